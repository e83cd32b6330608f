package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The charts speak the diagrams' visual language (internal/diagram's
// looks): requests in the load balancer's blue, the fleet in green,
// failures in the identity red, zones in the amber of their boxes, and a
// sans-serif face like D2's.
var (
	blue   = hex("#1d4ed8")
	green  = hex("#15803d")
	red    = hex("#b91c1c")
	amber  = hex("#b45309")
	purple = hex("#6d28d9")
	sky    = hex("#0369a1")
	grey   = hex("#4b5563")
	light  = hex("#9ca3af")

	// Series colours in order: zones, versions, revisions.
	palette = []color.Color{amber, sky, purple, green, red, grey}

	failFill = color.NRGBA{0xb9, 0x1c, 0x1c, 0x38}
	// Phase bands, in the fills of the diagram's boxes.
	phaseFill = map[string]color.Color{
		"baseline": hex("#f3f4f6"),
		"up":       hex("#e0f2fe"),
		"roll":     hex("#dbeafe"),
		"settle":   hex("#dcfce7"),
		"rollback": hex("#fef3c7"),
	}
)

func hex(s string) color.Color {
	var r, g, b uint8
	fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b)
	return color.NRGBA{r, g, b, 0xff}
}

func init() {
	sans := font.Font{Typeface: "Liberation", Variant: "Sans"}
	plot.DefaultFont = sans
	plotter.DefaultFont = sans
}

// A4 at 96 dpi less 15 mm margins is about 680 px of text width: the
// charts are drawn at that width so that 9 pt text stays 9 pt on paper.
const (
	chartWidth  = 17 * vg.Centimeter
	chartHeight = 5.6 * vg.Centimeter
	smallHeight = 4.6 * vg.Centimeter
)

type series struct {
	name   string
	color  color.Color
	xs, ys []float64
	width  vg.Length
	dashed bool
	step   bool
}

type band struct {
	x0, x1 float64
	fill   color.Color
	label  string
}

type marker struct {
	x     float64
	label string
}

type chart struct {
	xlabel, ylabel string
	xmax           float64
	ymax           float64 // 0: from the data
	percent        bool
	lines          []series
	stacked        []series // areas stacked bottom-up, in order
	bands          []band   // drawn first, in order
	markers        []marker
	height         vg.Length
}

func (ch chart) svg() ([]byte, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = ch.xlabel, ch.ylabel
	// A little room on the right, so an event at the very end is drawn whole.
	p.X.Min, p.X.Max = 0, math.Max(ch.xmax, 1)*1.02
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = 9
		a.Label.TextStyle.Color = grey
		a.Tick.Label.Font.Size = 8
		a.Tick.Label.Color = grey
		a.Color, a.Tick.Color = light, light
	}
	// The title's line is left blank: the key is drawn there, above the
	// data, so it never hides a line or an event's number.
	p.Title.Text = " "
	p.Title.TextStyle.Font.Size = 9
	p.Title.Padding = vg.Points(4)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Tick.Marker = plainTicks{}
	}
	keys := &keyRow{}
	p.Add(&bands{bs: ch.bands})
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = hex("#e5e7eb"), hex("#e5e7eb")
	p.Add(g)

	ymax := ch.ymax
	if len(ch.stacked) > 0 {
		st := &stack{ss: ch.stacked}
		p.Add(st)
		for _, s := range ch.stacked {
			keys.add(s.name, s.color, false, true)
		}
	}
	for _, s := range ch.lines {
		xys := make(plotter.XYs, len(s.xs))
		for i := range s.xs {
			xys[i].X, xys[i].Y = s.xs[i], s.ys[i]
			ymax = math.Max(ymax, s.ys[i])
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = s.color
		l.Width = s.width
		if l.Width == 0 {
			l.Width = vg.Points(1.2)
		}
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		if s.step {
			l.StepStyle = plotter.PostStep
		}
		p.Add(l)
		keys.add(s.name, s.color, s.dashed, false)
	}
	for _, b := range ch.bands {
		if b.label == "" && b.fill == failFill {
			keys.add("failure window", failFill, false, true)
			break
		}
	}
	p.Add(&markers{ms: ch.markers}, keys)
	p.Y.Min = 0
	switch {
	case ch.percent:
		p.Y.Max = 100
	case ymax <= 0:
		p.Y.Max = 1
	default:
		// Headroom for the events' numbers.
		p.Y.Max = ymax * 1.25
	}
	h := ch.height
	if h == 0 {
		h = chartHeight
	}
	wt, err := p.WriterTo(chartWidth, h, "svg")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// bands shades stretches of the x axis over the whole plot: failure
// windows, rollout phases.
type bands struct{ bs []band }

func (b *bands) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	for _, bd := range b.bs {
		x0, x1 := x(bd.x0), x(bd.x1)
		if x1-x0 < vg.Points(0.8) {
			x1 = x0 + vg.Points(0.8) // a 100 ms window on a 5-minute axis still shows
		}
		pts := []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}}
		c.FillPolygon(bd.fill, c.ClipPolygonX(pts))
		if bd.label != "" {
			sty := draw.TextStyle{Color: grey, Font: font.From(plot.DefaultFont, 7), Handler: p.Title.TextStyle.Handler, XAlign: draw.XLeft, YAlign: draw.YTop}
			if w := sty.Width(bd.label); w < x1-x0-vg.Points(2) {
				c.FillText(sty, vg.Point{X: x0 + vg.Points(2), Y: c.Min.Y + vg.Points(16)}, bd.label)
			}
		}
	}
}

// markers draws the run's events as numbered dashed verticals; the page
// lists what each number is.
type markers struct{ ms []marker }

func (m *markers) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	line := draw.LineStyle{Color: grey, Width: vg.Points(0.7), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	sty := draw.TextStyle{Color: hex("#111827"), Font: font.From(plot.DefaultFont, 7), Handler: p.Title.TextStyle.Handler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	lastX, row := vg.Length(-1000), 0
	for _, mk := range m.ms {
		xx := x(mk.x)
		if !c.ContainsX(xx) {
			continue
		}
		c.StrokeLine2(line, xx, c.Min.Y, xx, c.Max.Y)
		// Numbers of events close together step down, so each stays legible.
		if xx-lastX < vg.Points(11) {
			row++
		} else {
			row = 0
		}
		lastX = xx
		cy := c.Max.Y - vg.Points(6) - vg.Length(row)*vg.Points(11)
		r := vg.Points(5)
		var circle vg.Path
		circle.Move(vg.Point{X: xx + r, Y: cy})
		circle.Arc(vg.Point{X: xx, Y: cy}, r, 0, 2*math.Pi)
		circle.Close()
		c.SetColor(color.White)
		c.Fill(circle)
		c.SetLineStyle(draw.LineStyle{Color: grey, Width: vg.Points(0.7)})
		c.Stroke(circle)
		c.FillText(sty, vg.Point{X: xx, Y: cy}, mk.label)
	}
}

// stack draws areas stacked bottom-up: the share of each version.
type stack struct{ ss []series }

func (s *stack) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	if len(s.ss) == 0 {
		return
	}
	n := len(s.ss[0].xs)
	below := make([]float64, n)
	for _, sr := range s.ss {
		var pts []vg.Point
		for i := 0; i < n; i++ {
			pts = append(pts, vg.Point{X: x(sr.xs[i]), Y: y(below[i] + sr.ys[i])})
		}
		for i := n - 1; i >= 0; i-- {
			pts = append(pts, vg.Point{X: x(sr.xs[i]), Y: y(below[i])})
		}
		c.FillPolygon(sr.color, c.ClipPolygonXY(pts))
		for i := range below {
			below[i] += sr.ys[i]
		}
	}
}

// keyRow is the chart's key, in one row above the data.
type keyRow struct{ ks []key }

type key struct {
	name         string
	color        color.Color
	dashed, area bool
}

func (k *keyRow) add(name string, c color.Color, dashed, area bool) {
	k.ks = append(k.ks, key{name, c, dashed, area})
}

func (k *keyRow) Plot(c draw.Canvas, p *plot.Plot) {
	sty := draw.TextStyle{Color: grey, Font: font.From(plot.DefaultFont, 8), Handler: p.Title.TextStyle.Handler, XAlign: draw.XLeft, YAlign: draw.YCenter}
	x, y := c.Min.X, c.Max.Y+vg.Points(9)
	for _, e := range k.ks {
		if e.area {
			c.FillPolygon(e.color, []vg.Point{{X: x, Y: y - 3}, {X: x + 12, Y: y - 3}, {X: x + 12, Y: y + 3}, {X: x, Y: y + 3}})
		} else {
			ls := draw.LineStyle{Color: e.color, Width: vg.Points(1.6)}
			if e.dashed {
				ls.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
			}
			c.StrokeLine2(ls, x, y, x+14, y)
		}
		c.FillText(sty, vg.Point{X: x + 17, Y: y}, e.name)
		x += 17 + sty.Width(e.name) + 12
	}
}

// plainTicks are gonum's default ticks written without trailing zeros:
// "25", not "25.00".
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

var (
	xmlDecl   = regexp.MustCompile(`<\?xml[^>]*\?>\s*|<!--[^>]*-->\s*`)
	svgXMLNS  = regexp.MustCompile(`\s+xmlns(:\w+)?="[^"]*"`)
	svgWidth  = regexp.MustCompile(`^<svg([^>]*?)\swidth="[^"]*"`)
	svgHeight = regexp.MustCompile(`^<svg([^>]*?)\sheight="[^"]*"`)
)

// inline makes an SVG file a fragment of the HTML page: HTML needs no XML
// prolog or namespaces (and the page names no URL at all), and the
// picture scales to the page's width.
func inline(svg []byte) string {
	s := strings.TrimSpace(xmlDecl.ReplaceAllString(string(svg), ""))
	i := strings.Index(s, "<svg")
	if i < 0 {
		return ""
	}
	s = s[i:]
	end := strings.Index(s, ">")
	head, rest := s[:end], s[end:]
	head = svgXMLNS.ReplaceAllString(head, "")
	head = svgWidth.ReplaceAllString(head, `<svg$1 width="100%"`)
	head = svgHeight.ReplaceAllString(head, "<svg$1")
	rest = svgXMLNS.ReplaceAllString(rest, "")
	return head + rest
}
