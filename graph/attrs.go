package graph

import (
	"fmt"
	"html"
	"image/color"
	"regexp"
	"strconv"
	"strings"
)

// Reading the Graphviz attributes a picture needs: labels with their
// escapes, colours, styles, numbers, positions.

// labelText turns a Graphviz label into lines. In a plain label \n, \l and
// \r end a line and \N, \G, \E, \T, \H stand for the node's name, the
// graph's, the edge's and its tail's and head's; an HTML-like label
// (<...>) is read for its text alone, <br/> ending lines.
func labelText(v string, esc map[byte]string) []string {
	if isHTML(v) {
		return htmlText(v)
	}
	var lines []string
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\n':
			lines = append(lines, b.String())
			b.Reset()
		case c == '\\' && i+1 < len(v):
			i++
			switch e := v[i]; e {
			case 'n', 'l', 'r':
				lines = append(lines, b.String())
				b.Reset()
			default:
				if s, ok := esc[e]; ok {
					b.WriteString(s)
				} else {
					b.WriteByte(e)
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 || len(lines) == 0 {
		lines = append(lines, b.String())
	}
	return lines
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>`)
	htmlTag   = regexp.MustCompile(`<[^<>]*>`)
)

// htmlText is the text of an HTML-like label, one line per <br/>.
func htmlText(v string) []string {
	v = v[1 : len(v)-1]
	v = htmlBreak.ReplaceAllString(v, "\n")
	v = htmlTag.ReplaceAllString(v, "")
	var lines []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(html.UnescapeString(l)); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		lines = []string{""}
	}
	return lines
}

// styles splits a style attribute: "rounded,filled" has rounded and
// filled.
func styles(v string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			m[s] = true
		}
	}
	return m
}

// number reads a float attribute, or returns def.
func number(v string, def float64) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f != f {
		return def
	}
	return f
}

// position reads a node's pos, "x,y" in inches with an optional "!"
// that pins it, into points with y growing downwards.
func position(v string) (p point, pinned, ok bool) {
	v = strings.TrimSpace(v)
	if strings.HasSuffix(v, "!") {
		pinned = true
		v = v[:len(v)-1]
	}
	xs, ys, found := strings.Cut(v, ",")
	if !found {
		return p, false, false
	}
	x, err1 := strconv.ParseFloat(strings.TrimSpace(xs), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(ys), 64)
	if err1 != nil || err2 != nil {
		return p, false, false
	}
	return point{x * 72, -y * 72}, pinned, true
}

// rgba is a parsed colour; ok is false for a name this package does not
// know (SVG passes it on to the browser, PNG draws it black).
type rgba struct {
	c  color.NRGBA
	ok bool
}

// parseColor reads a Graphviz colour: #rrggbb, #rrggbbaa, #rgb, a name
// from a common subset of the X11 scheme, or grayN / greyN. A colour list
// ("red:blue") takes its first colour.
func parseColor(v string) rgba {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, ":;"); i >= 0 {
		v = v[:i]
	}
	if strings.HasPrefix(v, "#") {
		h := v[1:]
		if len(h) == 3 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		if len(h) == 6 {
			h += "ff"
		}
		if len(h) == 8 {
			if n, err := strconv.ParseUint(h, 16, 32); err == nil {
				return rgba{color.NRGBA{uint8(n >> 24), uint8(n >> 16), uint8(n >> 8), uint8(n)}, true}
			}
		}
		return rgba{}
	}
	for _, p := range []string{"gray", "grey"} {
		if rest, ok := strings.CutPrefix(v, p); ok && rest != "" {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n <= 100 {
				g := uint8((n*255 + 50) / 100)
				return rgba{color.NRGBA{g, g, g, 255}, true}
			}
		}
	}
	if n, ok := colorNames[v]; ok {
		return rgba{color.NRGBA{uint8(n >> 16), uint8(n >> 8), uint8(n), 255}, true}
	}
	if v == "transparent" || v == "none" {
		return rgba{color.NRGBA{}, true}
	}
	return rgba{}
}

// svgColor is how an SVG names the colour: hex when parsed, else the name
// as written, which browsers know for most X11 names.
func svgColor(v string) string {
	c := parseColor(v)
	switch {
	case !c.ok:
		return strings.TrimSpace(v)
	case c.c.A == 0:
		return "none"
	}
	return fmt.Sprintf("#%02x%02x%02x", c.c.R, c.c.G, c.c.B)
}

// svgOpacity is the colour's alpha for SVG, "" when opaque.
func svgOpacity(v string) string {
	c := parseColor(v)
	if !c.ok || c.c.A == 255 || c.c.A == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(c.c.A)/255, 'f', 2, 64)
}

// colorNames is a common subset of the X11 colour names Graphviz knows.
var colorNames = map[string]uint32{
	"black": 0x000000, "white": 0xffffff, "red": 0xff0000, "green": 0x00ff00, "blue": 0x0000ff,
	"yellow": 0xffff00, "cyan": 0x00ffff, "magenta": 0xff00ff, "gray": 0xc0c0c0, "grey": 0xc0c0c0,
	"lightgray": 0xd3d3d3, "lightgrey": 0xd3d3d3, "darkgray": 0xa9a9a9, "darkgrey": 0xa9a9a9,
	"dimgray": 0x696969, "dimgrey": 0x696969, "orange": 0xffa500, "darkorange": 0xff8c00,
	"purple": 0xa020f0, "violet": 0xee82ee, "pink": 0xffc0cb, "brown": 0xa52a2a, "gold": 0xffd700,
	"navy": 0x000080, "navyblue": 0x000080, "darkgreen": 0x006400, "forestgreen": 0x228b22,
	"lightblue": 0xadd8e6, "lightgreen": 0x90ee90, "lightyellow": 0xffffe0, "lightpink": 0xffb6c1,
	"darkred": 0x8b0000, "darkblue": 0x00008b, "steelblue": 0x4682b4, "skyblue": 0x87ceeb,
	"tomato": 0xff6347, "salmon": 0xfa8072, "crimson": 0xdc143c, "coral": 0xff7f50,
	"orchid": 0xda70d6, "turquoise": 0x40e0d0, "teal": 0x008080, "olive": 0x808000,
	"maroon": 0xb03060, "khaki": 0xf0e68c, "beige": 0xf5f5dc, "ivory": 0xfffff0,
	"lavender": 0xe6e6fa, "tan": 0xd2b48c, "chocolate": 0xd2691e, "firebrick": 0xb22222,
	"limegreen": 0x32cd32, "seagreen": 0x2e8b57, "royalblue": 0x4169e1, "slategray": 0x708090,
	"slategrey": 0x708090, "whitesmoke": 0xf5f5f5, "gainsboro": 0xdcdcdc, "silver": 0xc0c0c0,
	"indigo": 0x4b0082, "aquamarine": 0x7fffd4, "palegreen": 0x98fb98, "lightcyan": 0xe0ffff,
	"lightsalmon": 0xffa07a, "lightgoldenrod": 0xeedd82, "lightskyblue": 0x87cefa,
	"deepskyblue": 0x00bfff, "dodgerblue": 0x1e90ff, "cornflowerblue": 0x6495ed,
	"mediumpurple": 0x9370db, "hotpink": 0xff69b4, "deeppink": 0xff1493, "yellowgreen": 0x9acd32,
	"darkorchid": 0x9932cc, "darkviolet": 0x9400d3, "sienna": 0xa0522d, "peru": 0xcd853f,
	"wheat": 0xf5deb3, "linen": 0xfaf0e6, "honeydew": 0xf0fff0, "mintcream": 0xf5fffa,
	"azure": 0xf0ffff, "aliceblue": 0xf0f8ff, "snow": 0xfffafa, "seashell": 0xfff5ee,
}
