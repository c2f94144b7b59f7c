package render

import (
	"image/color"

	"github.com/cityarray/cityarray/mesh/record"
)

// Layout of the panel: a band in the tier's colour on the left, one dark
// column, then the text area.
const (
	bandWidth = 9
	textLeft  = bandWidth + 1
	textWidth = Width - textLeft
)

// Icon is the pictogram knocked out of the band.
type Icon uint8

// The icons. IconAuto picks the tier's icon.
const (
	IconAuto      Icon = iota // by tier: info, alert, warning, emergency
	IconNone                  // the band alone
	IconInfo                  // "i"
	IconAlert                 // "!"
	IconWarning               // "!" in a triangle
	IconEmergency             // "!!"
	IconClock                 // a clock face
)

// icons are drawn black on the band ('#'), at most bandWidth-2 wide.
var icons = map[Icon][]string{
	IconInfo: {
		"..##...",
		"..##...",
		".......",
		".###...",
		"..##...",
		"..##...",
		"..##...",
		"..##...",
		"..##...",
		".####..",
	},
	IconAlert: {
		"..###..",
		"..###..",
		"..###..",
		"..###..",
		"..###..",
		"...#...",
		"...#...",
		".......",
		"..###..",
		"..###..",
	},
	IconWarning: {
		"...#...",
		"...#...",
		"..###..",
		"..#.#..",
		".##.##.",
		".##.##.",
		"###.###",
		"#######",
		"###.###",
		"#######",
	},
	IconEmergency: {
		".##.##.",
		".##.##.",
		".##.##.",
		".##.##.",
		".##.##.",
		".##.##.",
		".......",
		".##.##.",
		".##.##.",
	},
	IconClock: {
		"..###..",
		".#.#.#.",
		"#..#..#",
		"#..##.#",
		"#.....#",
		".#...#.",
		"..###..",
	},
}

// testLetters spell TEST down the band in TEST mode, 5x7 each.
var testLetters = [4][]string{
	{"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	{"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	{".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	{"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
}

// tierIcon is the icon IconAuto stands for.
func tierIcon(t record.Tier) Icon {
	switch t {
	case record.TierInformational:
		return IconInfo
	case record.TierAdvisory:
		return IconAlert
	case record.TierWarning:
		return IconWarning
	default:
		return IconEmergency
	}
}

// drawChrome draws what does not move: the black background, the band in
// the tier colour, and the icon or, in TEST mode, the word TEST knocked out
// of it.
func drawChrome(pix []byte, band color.RGBA, icon Icon, test bool) {
	for i := 0; i < len(pix); i += 4 {
		pix[i], pix[i+1], pix[i+2], pix[i+3] = 0, 0, 0, 255
	}
	for y := range Height {
		for x := range bandWidth {
			setPix(pix, x, y, band)
		}
	}
	black := color.RGBA{0, 0, 0, 255}
	if test {
		// 4 letters of 7 rows and 3 gaps of 1 row: 31 of the 32 rows.
		x0 := (bandWidth - 5) / 2
		for i, letter := range testLetters {
			stamp(pix, letter, x0, i*8, black)
		}
		return
	}
	rows, ok := icons[icon]
	if !ok {
		return
	}
	x0 := (bandWidth - len(rows[0])) / 2
	y0 := (Height - len(rows)) / 2
	stamp(pix, rows, x0, y0, black)
}

func stamp(pix []byte, rows []string, x0, y0 int, c color.RGBA) {
	for dy, row := range rows {
		for dx := range len(row) {
			if row[dx] == '#' {
				setPix(pix, x0+dx, y0+dy, c)
			}
		}
	}
}

func setPix(pix []byte, x, y int, c color.RGBA) {
	if x < 0 || y < 0 || x >= Width || y >= Height {
		return
	}
	i := (y*Width + x) * 4
	pix[i], pix[i+1], pix[i+2], pix[i+3] = c.R, c.G, c.B, c.A
}
