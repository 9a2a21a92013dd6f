package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/ccontainer/ccontainer/bench/record"
)

// Chart geometry, in pixels.
const (
	chartWidth = 1000
	rowHeight  = 34
	barHeight  = 20
	labelWidth = 250 // left column with the contenders' names
	valueWidth = 110 // right margin for the median's figure
	topMargin  = 78
	axisHeight = 34
)

var (
	white    = color.RGBA{255, 255, 255, 255}
	ink      = color.RGBA{34, 34, 34, 255}
	grey     = color.RGBA{120, 120, 120, 255}
	grid     = color.RGBA{225, 225, 225, 255}
	peerBar  = color.RGBA{110, 140, 180, 255} // everyone else
	oursBar  = color.RGBA{230, 120, 30, 255}  // ccsuper and ccinit
	baseBar  = color.RGBA{150, 150, 150, 255} // the baseline
	whiskers = color.RGBA{40, 40, 40, 255}
)

// faces are the fonts a chart is written in: Go's own, embedded, so the
// charts look the same on every machine.
type faces struct{ title, text, small font.Face }

func loadFaces() (*faces, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	var fs faces
	if fs.title, err = face(bold, 20); err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	if fs.text, err = face(reg, 15); err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	if fs.small, err = face(reg, 13); err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	return &fs, nil
}

// ours says whether a contender is one of this project's binaries, which the
// chart shows in its own colour.
func ours(name string) bool {
	return strings.HasPrefix(name, "ccsuper") || strings.HasPrefix(name, "ccinit")
}

// drawChart writes a horizontal bar chart of s to path: one bar per series at
// its median, a whisker from p10 to p90, the median written at the end.
func drawChart(path string, s record.Section, sums []record.Summary, fs *faces) error {
	rows := len(s.Series)
	h := topMargin + rows*rowHeight + axisHeight + 10
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	text(img, fs.title, ink, 16, 28, s.Title)
	better := "lower is better"
	if s.Higher {
		better = "higher is better"
	}
	sub := fmt.Sprintf("median (bar) and p10 to p90 (whisker), %s, %s; %d round(s)", s.Unit, better, s.Rounds)
	if logScale(sums) {
		sub += "; logarithmic scale"
	}
	text(img, fs.small, grey, 16, 52, sub)

	x0, x1 := labelWidth, chartWidth-valueWidth
	ax := newAxis(sums, x0, x1)
	scale := ax.x
	plotBottom := topMargin + rows*rowHeight
	for _, v := range ax.ticks {
		x := scale(v)
		fill(img, x, topMargin-6, x+1, plotBottom, grid)
		label := strconv.FormatFloat(v, 'g', 6, 64)
		text(img, fs.small, grey, x-width(fs.small, label)/2, plotBottom+18, label)
	}
	fill(img, max(scale(0), x0), topMargin-6, max(scale(0), x0)+1, plotBottom, grey)

	for i, ser := range s.Series {
		m := sums[i]
		y := topMargin + i*rowHeight
		name := ser.Name
		for width(fs.text, name) > labelWidth-20 && len(name) > 4 {
			name = name[:len(name)-4] + "…"
		}
		text(img, fs.text, ink, labelWidth-12-width(fs.text, name), y+barHeight/2+5, name)
		c := peerBar
		switch {
		case ours(ser.Name):
			c = oursBar
		case ser.Name == s.Baseline:
			c = baseBar
		}
		// A bar runs from the zero line (the left edge on a log scale) to
		// the median, either way.
		zero := max(scale(0), x0+1)
		lo, hi := min(zero, scale(m.Median)), max(zero, scale(m.Median))
		fill(img, lo, y, max(hi, lo+1), y+barHeight, c)
		if m.N > 1 {
			lo, hi := scale(m.P10), scale(m.P90)
			mid := y + barHeight/2
			fill(img, lo, mid, hi+1, mid+1, whiskers)
			fill(img, lo, mid-5, lo+1, mid+6, whiskers)
			fill(img, hi, mid-5, hi+1, mid+6, whiskers)
		}
		val := number(m.Median)
		if m.Ratio != 0 && ser.Name != s.Baseline {
			val += fmt.Sprintf("  %.2f×", m.Ratio)
		}
		text(img, fs.small, ink, max(scale(m.Median), scale(m.P90), zero)+6, y+barHeight/2+5, val)
	}
	legend := "orange: ccontainer"
	if s.Baseline != "" {
		legend += "   grey: baseline (" + s.Baseline + "), × = ratio of medians to it"
	}
	text(img, fs.small, grey, 16, h-8, legend)

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode chart %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// An axis maps values to x between two pixel columns, linearly from 0, or
// logarithmically when the medians span more than a factor of 30 (Docker's
// start next to a chroot's), so the small bars stay readable.
type axis struct {
	x     func(float64) int
	ticks []float64
}

func logScale(sums []record.Summary) bool {
	lo, hi := math.Inf(1), 0.0
	for _, m := range sums {
		if m.N > 0 {
			lo, hi = math.Min(lo, m.Median), math.Max(hi, m.Median)
		}
	}
	return lo > 0 && hi/lo > 30
}

func newAxis(sums []record.Summary, x0, x1 int) axis {
	top, bottom := 0.0, math.Inf(1)
	for _, m := range sums {
		if m.N > 0 {
			top = math.Max(top, math.Max(m.Median, m.P90))
			bottom = math.Min(bottom, math.Min(m.Median, m.P10))
		}
	}
	if logScale(sums) {
		lo := math.Pow(10, math.Floor(math.Log10(bottom)))
		hi := math.Pow(10, math.Ceil(math.Log10(top)))
		span := math.Log10(hi / lo)
		var ticks []float64
		for p := lo; p < hi*1.01; p *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if m*p <= hi*1.01 {
					ticks = append(ticks, m*p)
				}
			}
		}
		return axis{ticks: ticks, x: func(v float64) int {
			if v < lo {
				v = lo
			}
			return x0 + int(math.Round(math.Log10(v/lo)/span*float64(x1-x0)))
		}}
	}
	// Linear from 0, or from below it when a figure is negative (a
	// difference of two noisy readings can be).
	low := math.Min(0, bottom)
	step := niceStep((top - low) / 5)
	if step == 0 {
		step = 1
	}
	axisMin, axisMax := math.Floor(low/step)*step, math.Ceil(top/step)*step
	var ticks []float64
	for v := axisMin; v <= axisMax+step/2; v += step {
		ticks = append(ticks, v)
	}
	return axis{ticks: ticks, x: func(v float64) int {
		return x0 + int(math.Round((v-axisMin)/(axisMax-axisMin)*float64(x1-x0)))
	}}
}

// niceStep rounds a raw axis step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsInf(raw, 0) || math.IsNaN(raw) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, f font.Face, c color.Color, x, y int, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: f, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func width(f font.Face, s string) int { return font.MeasureString(f, s).Round() }
