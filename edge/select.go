package edge

import (
	"cmp"
	"slices"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
)

// Showable is what the pole puts on its panel (show.Item).
type Showable = show.Item

// Languages returns the languages to rotate through for alert a: those of
// the zone's list (in its order) that the alert has; when it has none of
// them, all of the alert's, English first and the rest in tag order, so
// that a pole never shows nothing.
func Languages(a *record.Alert, zoneLangs []string) []string {
	var out []string
	for _, l := range zoneLangs {
		if _, ok := a.Texts[l]; ok && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) > 0 {
		return out
	}
	for l := range a.Texts {
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y string) int {
		switch {
		case x == "en":
			return -1
		case y == "en":
			return 1
		}
		return cmp.Compare(x, y)
	})
	return out
}
