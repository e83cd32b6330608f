// Package report renders the evidence a stack's runs left: the stack, its
// architecture, its compliance, and each chaos, rollout and probe run with
// charts of what clients and the fleet went through, as one self-contained
// HTML page (inline CSS and SVG, no scripts, nothing fetched) or as
// Markdown with the charts beside it.
package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"slices"
	"strings"
	ttemplate "text/template"
	"time"

	"stayup/internal/policy"
)

// Stack is what the page says about the stack.
type Stack struct {
	Name, Cloud, Region string
	Zones               []string
	Image, URL          string
	// Source says where these came from: the deployed stack's outputs or
	// the plan (not deployed, or its state could not be read).
	Source string
}

// Input is everything the page shows.
type Input struct {
	Stack Stack
	// Diagram is the architecture as SVG; DiagramSource says what it was
	// drawn from.
	Diagram       []byte
	DiagramSource string
	// Findings are the compliance findings, waived ones included;
	// FindingsSource says what was checked; Rules how many rules ran.
	Findings       []policy.Finding
	FindingsSource string
	Rules          int
	Runs           []Run
	RunsDir        string
	// Generated is when the page was made (a fixed time keeps an example
	// page reproducible).
	Generated time.Time
}

//go:embed page.html.tmpl page.md.tmpl style.css
var files embed.FS

type page struct {
	In       Input
	Style    template.CSS
	Diagram  template.HTML
	Runs     []runView
	Blocking int
	Waived   int
	Charts   map[string]template.HTML // figure name -> inline SVG
	Dir      string                   // Markdown: the charts' directory, relative
}

func newPage(in Input) (*page, error) {
	views, err := buildViews(in.Runs)
	if err != nil {
		return nil, err
	}
	css, err := files.ReadFile("style.css")
	if err != nil {
		return nil, err
	}
	p := &page{In: in, Style: template.CSS(css), Runs: views, Charts: map[string]template.HTML{}}
	if len(in.Diagram) > 0 {
		p.Diagram = template.HTML(inline(in.Diagram))
	}
	for _, v := range views {
		for _, f := range v.Figures {
			p.Charts[f.Name] = template.HTML(inline(f.SVG))
		}
	}
	for _, f := range in.Findings {
		if f.Waived != "" {
			p.Waived++
		} else {
			p.Blocking++
		}
	}
	return p, nil
}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"clock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"human": human,
	"upper": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"kinds": func(vs []runView, kind string) int {
		return len(slices.DeleteFunc(slices.Clone(vs), func(v runView) bool { return v.Kind != kind }))
	},
	"chart": func(p *page, name string) template.HTML { return p.Charts[name] },
	"mdcell": func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
	},
}

// HTML renders the page.
func HTML(in Input) ([]byte, error) {
	p, err := newPage(in)
	if err != nil {
		return nil, err
	}
	t, err := template.New("page.html.tmpl").Funcs(funcs).ParseFS(files, "page.html.tmpl")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render the report: %w", err)
	}
	return b.Bytes(), nil
}

// Markdown renders the page as Markdown, with the diagram and the charts
// as SVG files named by the returned map's keys, to be written into dir
// (a path relative to the Markdown file).
func Markdown(in Input, dir string) ([]byte, map[string][]byte, error) {
	p, err := newPage(in)
	if err != nil {
		return nil, nil, err
	}
	p.Dir = strings.TrimSuffix(dir, "/")
	out := map[string][]byte{}
	if len(in.Diagram) > 0 {
		out["architecture.svg"] = in.Diagram
	}
	for _, v := range p.Runs {
		for _, f := range v.Figures {
			out[f.Name+".svg"] = f.SVG
		}
	}
	t, err := ttemplate.New("page.md.tmpl").Funcs(ttemplate.FuncMap(funcs)).ParseFS(files, "page.md.tmpl")
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, nil, fmt.Errorf("render the report: %w", err)
	}
	return b.Bytes(), out, nil
}
