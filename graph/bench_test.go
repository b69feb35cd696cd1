package graph

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkDraw measures drawing generated labs (a chain of routers, each
// with a bridge of eight hosts) of 10, 100 and 500 nodes: layout and
// rendering for every engine as SVG, the PNG of the default engine, and the
// annotated DOT alone.
func BenchmarkDraw(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100, 500} {
		lab := genLab(b, n)
		for _, layout := range Layouts {
			b.Run(fmt.Sprintf("nodes=%d/%s/svg", len(lab.Nodes), layout), func(b *testing.B) {
				for b.Loop() {
					if _, err := Draw(ctx, lab, nil, Options{Layout: layout}, SVG); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("nodes=%d/dot/png", len(lab.Nodes)), func(b *testing.B) {
			for b.Loop() {
				if _, err := Draw(ctx, lab, nil, Options{}, PNG); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/annotate", len(lab.Nodes)), func(b *testing.B) {
			for b.Loop() {
				if _, err := Annotate(lab, nil, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
