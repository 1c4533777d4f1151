package eval

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot file names written by WritePlots.
const (
	PlotEnergy       = "energy.png"
	PlotRMSF         = "rmsf.png"
	PlotDistanceDiff = "distance_diff.png"
	PlotRamachandran = "ramachandran.png"
	PlotFES          = "fes.png"
)

// FESPlotMax is the top of the free-energy colour scale and axes (kT).
const FESPlotMax = 8.0

var (
	colorMD         = color.RGBA{A: 255}
	colorSamples    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colorReweighted = color.RGBA{R: 31, G: 119, B: 180, A: 255}
)

// WritePlots draws the report's figures as PNG files in dir (created if
// needed), each written atomically:
//   - energy.png: energy histograms of MD, samples and reweighted samples,
//     with the counts outside the plotted range in the title;
//   - rmsf.png: RMSF per selected backbone atom, MD vs samples;
//   - distance_diff.png: mean distance matrix of the samples minus MD's;
//   - ramachandran.png: free-energy surfaces over (phi, psi) of MD,
//     samples and reweighted samples side by side;
//   - fes.png: the phi and psi free-energy profiles.
//
// A figure whose section of the report is missing is not drawn. Errors of
// the individual figures are joined.
func WritePlots(dir string, r *Report) error {
	if r == nil {
		return fmt.Errorf("eval: plots of no report")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: plots: %w", err)
	}
	var errs []error
	save := func(name string, w, h vg.Length, drawFn func(draw.Canvas) error) {
		if err := renderPNG(filepath.Join(dir, name), w, h, drawFn); err != nil {
			errs = append(errs, err)
		}
	}
	if h := r.EnergyHistogram; h != nil {
		save(PlotEnergy, 16*vg.Centimeter, 11*vg.Centimeter, func(dc draw.Canvas) error { return drawEnergy(dc, h) })
	}
	if s := r.Structure; s != nil {
		save(PlotRMSF, 16*vg.Centimeter, 10*vg.Centimeter, func(dc draw.Canvas) error { return drawRMSF(dc, s) })
		save(PlotDistanceDiff, 15*vg.Centimeter, 13*vg.Centimeter, func(dc draw.Canvas) error { return drawDistanceDiff(dc, s) })
	}
	if t := r.Torsions; t != nil {
		save(PlotRamachandran, 30*vg.Centimeter, 10*vg.Centimeter, func(dc draw.Canvas) error { return drawRamachandran(dc, t) })
		save(PlotFES, 24*vg.Centimeter, 10*vg.Centimeter, func(dc draw.Canvas) error { return drawFES(dc, t) })
	}
	return errors.Join(errs...)
}

// renderPNG draws into an image of w x h and writes it to path. gonum/plot
// panics on some degenerate input (an empty range, a NaN where it wants a
// number); that becomes an error here rather than a crash of the caller.
func renderPNG(path string, w, h vg.Length, drawFn func(draw.Canvas) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("eval: plot %s: %v", path, p)
		}
	}()
	img := vgimg.New(w, h)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if err := drawFn(dc); err != nil {
		return fmt.Errorf("eval: plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("eval: plot %s: encode: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// colors is a palette.Palette made of a list of colours.
type colors []color.Color

func (c colors) Colors() []color.Color { return c }

// sequential is the free-energy palette: Kindlmann's map (black, purple,
// blue, green, yellow) without its last fifth, which fades to white and
// would look like the white of empty bins.
func sequential() palette.Palette {
	cm := moreland.Kindlmann()
	cm.SetMin(0)
	cm.SetMax(1)
	const n = 200
	out := make(colors, n)
	for i := range out {
		c, err := cm.At(0.8 * float64(i) / float64(n-1))
		if err != nil {
			c = color.Black
		}
		out[i] = c
	}
	return out
}

// diverging is a blue-white-red palette for differences.
func diverging() palette.Palette {
	cm := moreland.SmoothBlueRed()
	cm.SetMin(-1)
	cm.SetMax(1)
	return cm.Palette(201)
}

// grid is a plotter.GridXYZ over z[column][row].
type grid struct {
	xs, ys []float64
	z      [][]float64
}

func (g grid) Dims() (int, int)       { return len(g.xs), len(g.ys) }
func (g grid) Z(c, r int) float64     { return g.z[c][r] }
func (g grid) X(c int) float64        { return g.xs[c] }
func (g grid) Y(r int) float64        { return g.ys[r] }
func (g grid) Min() float64           { return 0 }
func (g grid) Max() float64           { return 1 }
func degrees(rad []float64) []float64 { return scaled(rad, 180/math.Pi) }

func scaled(x []float64, s float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = s * v
	}
	return out
}

// heatMap makes a heat map of g with the dynamic range [lo, hi]; values
// above hi get the top colour, NaN the nan colour.
func heatMap(g grid, pal palette.Palette, lo, hi float64, nan color.Color) *plotter.HeatMap {
	h := plotter.NewHeatMap(g, pal)
	h.Min, h.Max = lo, hi
	cs := pal.Colors()
	h.Underflow, h.Overflow, h.NaN = cs[0], cs[len(cs)-1], nan
	return h
}

// colorBar draws a vertical colour scale from lo to hi.
func colorBar(pal palette.Palette, lo, hi float64, label string) *plot.Plot {
	const n = 100
	ys := make([]float64, n)
	z := [][]float64{make([]float64, n)}
	for i := range ys {
		ys[i] = lo + (hi-lo)*(float64(i)+0.5)/n
		z[0][i] = ys[i]
	}
	p := plot.New()
	p.Add(heatMap(grid{xs: []float64{0}, ys: ys, z: z}, pal, lo, hi, color.White))
	p.HideX()
	p.Y.Label.Text = label
	p.Y.Min, p.Y.Max = lo, hi
	return p
}

// withColorBar draws plots in one row and a colour bar at the right.
func withColorBar(dc draw.Canvas, plots []*plot.Plot, bar *plot.Plot) {
	w := dc.Max.X - dc.Min.X
	barW := vg.Length(math.Max(float64(w)*0.1, float64(3*vg.Centimeter)))
	main := draw.Crop(dc, 0, -barW, 0, 0)
	right := draw.Crop(dc, w-barW, 0, 0, 0)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{plots}, tiles, main)
	for i, p := range plots {
		p.Draw(cs[0][i])
	}
	bar.Draw(draw.Crop(right, 2*vg.Millimeter, -2*vg.Millimeter, 2*vg.Millimeter+vg.Centimeter, -2*vg.Millimeter-vg.Centimeter))
}

// segments splits (x, y) into runs of finite y, so that empty bins show as
// gaps rather than as lines to infinity.
func segments(x, y []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range x {
		if !finite(y[i]) {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: x[i], Y: y[i]})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// addLines adds the finite runs of (x, y) in one colour, with one legend
// entry (and a point marker for runs of one point).
func addLines(p *plot.Plot, name string, c color.Color, dashed bool, x, y []float64) error {
	first := true
	for _, seg := range segments(x, y) {
		l, s, err := plotter.NewLinePoints(seg)
		if err != nil {
			return err
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		s.Radius = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l, s)
		if first {
			p.Legend.Add(name, l)
			first = false
		}
	}
	return nil
}

func drawEnergy(dc draw.Canvas, h *EnergyHistogram) error {
	p := plot.New()
	p.Title.Text = "Potential energy"
	p.X.Label.Text = "U (kJ/mol)"
	p.Y.Label.Text = "fraction of frames per bin"
	width := (h.Hi - h.Lo) / float64(h.Bins)
	edges := make([]float64, h.Bins+1)
	for i := range edges {
		edges[i] = h.Lo + float64(i)*width
	}
	step := func(name string, c color.Color, frac []float64) error {
		if frac == nil {
			return nil
		}
		xy := make(plotter.XYs, h.Bins+1)
		for i := range xy {
			xy[i].X = edges[i]
			xy[i].Y = frac[min(i, h.Bins-1)]
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.StepStyle = plotter.PostStep
		l.Color = c
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	if err := step("MD", colorMD, h.MD); err != nil {
		return err
	}
	if err := step("samples", colorSamples, h.Samples); err != nil {
		return err
	}
	if err := step("reweighted", colorReweighted, h.Reweighted); err != nil {
		return err
	}
	p.Legend.Top = true
	p.X.Min, p.X.Max = h.Lo, h.Hi
	p.Y.Min = 0
	if h.Samples != nil {
		p.Title.Text += fmt.Sprintf("\nsamples outside [%.4g, %.4g): %d below, %d above, %d non-finite",
			h.Lo, h.Hi, h.SamplesBelow, h.SamplesAbove, h.SamplesNonFinite)
	}
	if h.MD != nil && h.MDBelow+h.MDAbove+h.MDNonFinite > 0 {
		p.Title.Text += fmt.Sprintf("\nMD outside: %d below, %d above, %d non-finite", h.MDBelow, h.MDAbove, h.MDNonFinite)
	}
	p.Draw(dc)
	return nil
}

func drawRMSF(dc draw.Canvas, s *StructureReport) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("RMSF (mean |samples - MD| = %.3g nm)", s.RMSFMeanAbsDiff)
	p.X.Label.Text = "residue (C-alpha)"
	if s.Selection != SelectionCA {
		p.X.Label.Text = "backbone atom (N, CA, C)"
	}
	p.Y.Label.Text = "RMSF (nm)"
	x := make([]float64, len(s.RMSFMD))
	for i := range x {
		x[i] = float64(i + 1)
	}
	if err := addLines(p, "MD", colorMD, false, x, s.RMSFMD); err != nil {
		return err
	}
	if err := addLines(p, "samples", colorSamples, false, x, s.RMSFSamples); err != nil {
		return err
	}
	if s.RMSFReweighted != nil {
		if err := addLines(p, "reweighted", colorReweighted, true, x, s.RMSFReweighted); err != nil {
			return err
		}
	}
	p.Y.Min = 0
	p.Legend.Top = true
	p.Draw(dc)
	return nil
}

func drawDistanceDiff(dc draw.Canvas, s *StructureReport) error {
	n := len(s.MeanDistanceMD)
	if n == 0 || len(s.MeanDistanceSamples) != n {
		return fmt.Errorf("distance matrices of %d and %d atoms", n, len(s.MeanDistanceSamples))
	}
	xs := make([]float64, n)
	z := make([][]float64, n)
	m := 0.0
	for i := range z {
		xs[i] = float64(i + 1)
		z[i] = make([]float64, n)
		for j := range z[i] {
			z[i][j] = s.MeanDistanceSamples[i][j] - s.MeanDistanceMD[i][j]
			if finite(z[i][j]) {
				m = math.Max(m, math.Abs(z[i][j]))
			} else {
				z[i][j] = math.NaN()
			}
		}
	}
	if m == 0 {
		m = 1e-3 // identical matrices: any symmetric range shows all white
	}
	pal := diverging()
	p := plot.New()
	p.Title.Text = fmt.Sprintf("mean distance, samples - MD (ΔD = %.3g nm)", s.DeltaD)
	p.X.Label.Text, p.Y.Label.Text = "atom", "atom"
	p.Add(heatMap(grid{xs: xs, ys: xs, z: z}, pal, -m, m, color.Gray{Y: 128}))
	withColorBar(dc, []*plot.Plot{p}, colorBar(pal, -m, m, "Δd (nm)"))
	return nil
}

// ramaGrid turns a Ramachandran surface into a grid in degrees, NaN where
// empty.
func ramaGrid(r *Ramachandran) grid {
	deg := degrees(r.Centers)
	z := make([][]float64, len(r.F))
	for i, row := range r.F {
		z[i] = make([]float64, len(row))
		for j, f := range row {
			z[i][j] = float64(f)
			if !finite(z[i][j]) {
				z[i][j] = math.NaN()
			}
		}
	}
	return grid{xs: deg, ys: deg, z: z}
}

func drawRamachandran(dc draw.Canvas, t *TorsionReport) error {
	pal := sequential()
	var plots []*plot.Plot
	for _, e := range []struct {
		name string
		r    *Ramachandran
	}{{"MD", t.RamaMD}, {"samples", t.RamaSamples}, {"reweighted", t.RamaReweighted}} {
		if e.r == nil {
			continue
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s (%d frames)", e.name, e.r.N)
		p.X.Label.Text, p.Y.Label.Text = "phi (deg)", "psi (deg)"
		p.Add(heatMap(ramaGrid(e.r), pal, 0, FESPlotMax, color.White))
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -180, 180, -180, 180
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("no Ramachandran histogram")
	}
	withColorBar(dc, plots, colorBar(pal, 0, FESPlotMax, fmt.Sprintf("F (kT), white: empty, top: ≥ %g", FESPlotMax)))
	return nil
}

func drawFES(dc draw.Canvas, t *TorsionReport) error {
	var plots []*plot.Plot
	for _, a := range []struct {
		name string
		r    *AngleReport
	}{{"phi", &t.Phi}, {"psi", &t.Psi}} {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s of %s", a.name, t.Residue)
		if c := a.r.SamplesVsMD; c != nil {
			p.Title.Text += fmt.Sprintf("\nRMSE raw %.3g kT", float64(c.RMSE))
			if c := a.r.ReweightedVsMD; c != nil {
				p.Title.Text += fmt.Sprintf(", reweighted %.3g kT", float64(c.RMSE))
			}
		}
		p.X.Label.Text = a.name + " (deg)"
		p.Y.Label.Text = "F (kT)"
		for _, e := range []struct {
			name   string
			c      color.Color
			dashed bool
			p      *Profile
		}{{"MD", colorMD, false, a.r.MD}, {"samples", colorSamples, false, a.r.Samples}, {"reweighted", colorReweighted, true, a.r.Reweighted}} {
			if e.p == nil {
				continue
			}
			y := make([]float64, len(e.p.F))
			for i, f := range e.p.F {
				y[i] = float64(f)
			}
			if err := addLines(p, e.name, e.c, e.dashed, degrees(e.p.Centers), y); err != nil {
				return err
			}
		}
		p.X.Min, p.X.Max = -180, 180
		p.Y.Min, p.Y.Max = 0, FESPlotMax
		p.Legend.Top = true
		plots = append(plots, p)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Centimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[0][i])
	}
	return nil
}
