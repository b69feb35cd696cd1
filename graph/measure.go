package graph

import (
	"sync"

	"github.com/golang/freetype/truetype"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
)

// Text is set in the Go font, which ships inside the binary: layout and
// PNG measure and draw the same glyphs on every machine. SVG names
// Helvetica first, which is narrower, so text never outgrows its room.

// goRegular is parsed once; a *truetype.Font is read-only once parsed and
// safe to share. Faces are not (they cache glyphs) and belong to one
// measurer.
var goRegular = sync.OnceValue(func() *truetype.Font {
	f, err := truetype.Parse(goregular.TTF)
	if err != nil {
		panic("graph: the built-in Go font does not parse: " + err.Error())
	}
	return f
})

// lineHeight is the distance between baselines, per point of font size.
const lineHeight = 1.2

// measurer measures and draws text at a scale (pixels per point). It is
// used by one goroutine.
type measurer struct {
	scale float64
	faces map[float64]font.Face
}

func newMeasurer(scale float64) *measurer {
	return &measurer{scale: scale, faces: map[float64]font.Face{}}
}

// face returns the face for a font size in points, at the measurer's
// scale.
func (m *measurer) face(size float64) font.Face {
	f, ok := m.faces[size]
	if !ok {
		f = truetype.NewFace(goRegular(), &truetype.Options{Size: size * m.scale, DPI: 72, Hinting: font.HintingNone})
		m.faces[size] = f
	}
	return f
}

// width is the advance of s in points.
func (m *measurer) width(s string, size float64) float64 {
	return float64(font.MeasureString(m.face(size), s)) / 64 / m.scale
}

// block measures lines of text set at size: the widest line and the
// height of all lines, in points.
func (m *measurer) block(lines []string, size float64) (w, h float64) {
	for _, l := range lines {
		w = max(w, m.width(l, size))
	}
	return w, float64(len(lines)) * size * lineHeight
}
