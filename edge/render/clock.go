package render

import (
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Clock returns the informational content a pole shows by itself when it
// has no alert: the time ("15:04") on the top line and the date ("2 Jan")
// on the bottom one, followed by message (a configured city message) when
// there is one. now comes from the caller's clock; prepare a new scene
// each minute.
func Clock(now time.Time, message string) Content {
	detail := now.Format("2 Jan")
	if message != "" {
		detail += " · " + message
	}
	return Content{
		Tier:   record.TierInformational,
		Text:   now.Format("15:04"),
		Detail: detail,
		Icon:   IconClock,
	}
}
