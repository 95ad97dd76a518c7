package logview

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// allowed are the elements and attributes the markup may have.
var allowed = map[string][]string{
	"div":     {"class", "id"},
	"span":    {"class"},
	"a":       {"class", "href"},
	"details": {"class", "data-name", "open"},
	"summary": {"class", "id"},
	"time":    {"class", "datetime"},
}

// checkSafe fails t unless h, parsed as the browser would inside a <div>, has only the
// log's own elements and attributes: no script, image, style, event handler or link out.
func checkSafe(t testing.TB, h string) {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(h), ctx)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs, ok := allowed[n.Data]
			if !ok {
				t.Fatalf("element <%s> in %q", n.Data, h)
			}
			for _, a := range n.Attr {
				if !slices.Contains(attrs, a.Key) {
					t.Fatalf("attribute %s on <%s> in %q", a.Key, n.Data, h)
				}
				if a.Key == "href" && !strings.HasPrefix(a.Val, "#L") {
					t.Fatalf("link to %q in %q", a.Val, h)
				}
				if a.Key == "class" && strings.ContainsAny(a.Val, "<>\"'") {
					t.Fatalf("class %q in %q", a.Val, h)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
}
