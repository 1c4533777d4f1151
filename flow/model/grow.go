package model

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Grow returns a copy of the flow with more coupling layers: cfg must equal
// the flow's configuration except for Layers (nsf), BackboneLayers and
// SideChainLayers (split architectures), none of which may shrink and one
// of which must grow. The copy keeps every weight of f; the new layers are
// appended after the old ones of their kind and start as the identity (their
// conditioners' output heads are zero), so the grown flow has exactly f's
// density until it is trained. That gives a trained flow more capacity
// without training again from scratch.
func (f *Flow) Grow(cfg Config) (*Flow, error) {
	if err := growable(f.cfg, cfg); err != nil {
		return nil, err
	}
	g, err := newFlow(f.backend, cfg, f.layout, f.dtype)
	if err != nil {
		return nil, err
	}
	g.ctx.SetParam(context.ParamInitialSeed, cfg.Seed)
	if err := f.copyWeightsTo(g); err != nil {
		return nil, err
	}
	// The new layers' variables are created here, with cfg's initialisers.
	if err := g.materialize(); err != nil {
		return nil, err
	}
	return g, nil
}

// growable says why to cannot be grown from from, or nil if it can.
func growable(from, to Config) error {
	if to.Layers < from.Layers || to.BackboneLayers < from.BackboneLayers || to.SideChainLayers < from.SideChainLayers {
		return fmt.Errorf("flow: grow from %d/%d/%d to %d/%d/%d layers (nsf/backbone/side chain): layers cannot be removed",
			from.Layers, from.BackboneLayers, from.SideChainLayers, to.Layers, to.BackboneLayers, to.SideChainLayers)
	}
	if to.Layers == from.Layers && to.BackboneLayers == from.BackboneLayers && to.SideChainLayers == from.SideChainLayers {
		return fmt.Errorf("flow: grow: the configuration adds no layers")
	}
	same := to
	same.Layers, same.BackboneLayers, same.SideChainLayers = from.Layers, from.BackboneLayers, from.SideChainLayers
	a, _ := json.Marshal(from)
	b, _ := json.Marshal(same)
	if !bytes.Equal(a, b) {
		return fmt.Errorf("flow: grow: only the layer counts may change, but the settings differ: %s against %s", b, a)
	}
	return nil
}
