package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Architecture names.
const (
	// ArchNSF is the baseline: one channel of RQS couplings with MLP
	// conditioners, masks alternating so that every dimension is transformed.
	ArchNSF = "nsf"
	// ArchSplitGAU is the split-channel flow: backbone couplings, then
	// side-chain couplings conditioned on the backbone, both with gated
	// attention unit conditioners over residue tokens.
	ArchSplitGAU = "split-gau"
	// ArchSplitMLP is the ablation: the split structure with MLP conditioners.
	ArchSplitMLP = "split-mlp"
)

// Architectures lists the architecture names New accepts.
func Architectures() []string { return []string{ArchNSF, ArchSplitGAU, ArchSplitMLP} }

// Torsion base distributions.
const (
	BaseUniform  = "uniform"
	BaseVonMises = "vonmises"
)

// Config sets a flow's architecture and sizes. DefaultConfig gives the
// defaults; JSON uses the tags below.
type Config struct {
	Arch string `json:"arch"`
	// Bins is the number of spline bins K.
	Bins int `json:"bins"`
	// Layers is the number of coupling layers of nsf.
	Layers int `json:"layers"`
	// BackboneLayers and SideChainLayers are the coupling layers of each
	// channel of the split architectures. A channel without dimensions gets
	// none.
	BackboneLayers  int `json:"backbone_layers"`
	SideChainLayers int `json:"sidechain_layers"`
	// Hidden are the MLP conditioners' hidden widths (nsf, split-mlp).
	Hidden []int `json:"hidden"`
	// Embed is the GAU token width E; Expansion*Embed is the width of V and
	// G; QKDim is the width of Z (queries and keys); GAULayers is the
	// number of GAU blocks per conditioner; RelPosClip clips the relative
	// position (token offset) of the learned attention bias.
	Embed      int `json:"embed"`
	Expansion  int `json:"expansion"`
	QKDim      int `json:"qk_dim"`
	GAULayers  int `json:"gau_layers"`
	RelPosClip int `json:"relpos_clip"`
	// Spline minimums (fractions of the interval; see spline.Options).
	MinBinWidth   float64 `json:"min_bin_width"`
	MinBinHeight  float64 `json:"min_bin_height"`
	MinDerivative float64 `json:"min_derivative"`
	// TorsionBase is the base distribution of circular dimensions:
	// "uniform" or "vonmises".
	TorsionBase string `json:"torsion_base"`
	// Kappa is the von Mises concentration (initial value when learned).
	Kappa float64 `json:"kappa"`
	// LearnBase makes the von Mises locations and concentrations trainable.
	LearnBase bool `json:"learn_base"`
	// ActNorm makes the per-dimension location and scale of the interval
	// dimensions trainable (see Flow); IntervalScale is the scale they start
	// from (and keep, without ActNorm).
	ActNorm       bool    `json:"act_norm"`
	IntervalScale float64 `json:"interval_scale"`
	// Seed seeds the random initial weights (GoMLX's initializers treat 0 as
	// "non-deterministic").
	Seed int64 `json:"seed"`
}

// DefaultConfig returns the defaults for an architecture.
func DefaultConfig(arch string) Config {
	return Config{
		Arch:            arch,
		Bins:            8,
		Layers:          8,
		BackboneLayers:  6,
		SideChainLayers: 6,
		Hidden:          []int{256, 256},
		Embed:           64,
		Expansion:       2,
		QKDim:           32,
		GAULayers:       2,
		RelPosClip:      32,
		MinBinWidth:     1e-3,
		MinBinHeight:    1e-3,
		MinDerivative:   1e-3,
		TorsionBase:     BaseVonMises,
		Kappa:           1,
		LearnBase:       true,
		ActNorm:         true,
		IntervalScale:   0.5,
		Seed:            1,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if !slices.Contains(Architectures(), c.Arch) {
		return fmt.Errorf("config: unknown architecture %q (want one of %v)", c.Arch, Architectures())
	}
	if err := c.splineOptions().Validate(c.Bins, false); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Arch == ArchNSF && c.Layers < 1 {
		return fmt.Errorf("config: nsf needs at least one layer, got %d", c.Layers)
	}
	if c.Arch != ArchNSF && (c.BackboneLayers < 0 || c.SideChainLayers < 0 || c.BackboneLayers+c.SideChainLayers == 0) {
		return fmt.Errorf("config: split flows need backbone/side-chain layers >= 0, not both 0 (got %d, %d)",
			c.BackboneLayers, c.SideChainLayers)
	}
	if c.Arch != ArchSplitGAU {
		for _, h := range c.Hidden {
			if h <= 0 {
				return fmt.Errorf("config: hidden width %d must be positive", h)
			}
		}
	} else {
		for _, v := range []struct {
			name string
			v    int
		}{{"embed", c.Embed}, {"expansion", c.Expansion}, {"qk_dim", c.QKDim}, {"gau_layers", c.GAULayers}, {"relpos_clip", c.RelPosClip}} {
			if v.v < 1 {
				return fmt.Errorf("config: %s must be at least 1, got %d", v.name, v.v)
			}
		}
	}
	switch c.TorsionBase {
	case BaseUniform:
	case BaseVonMises:
		if !(c.Kappa > 0) || c.Kappa > 1e6 {
			return fmt.Errorf("config: kappa must be in (0, 1e6], got %g", c.Kappa)
		}
	default:
		return fmt.Errorf("config: torsion_base %q: want %q or %q", c.TorsionBase, BaseUniform, BaseVonMises)
	}
	if !(c.IntervalScale > 0) || c.IntervalScale > 1e3 {
		return fmt.Errorf("config: interval_scale must be in (0, 1e3], got %g", c.IntervalScale)
	}
	return nil
}

// ReadConfig reads a JSON configuration; fields it does not set keep the
// defaults of its "arch" (or of arch, when given and the file has none).
// Unknown fields are errors (they are usually typos).
func ReadConfig(path, arch string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var probe struct {
		Arch string `json:"arch"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if probe.Arch == "" {
		probe.Arch = arch
	}
	c := DefaultConfig(probe.Arch)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}
