//go:build !(linux && cgo && oto)

package audio

import (
	"errors"
	"fmt"
)

// openOto reports that this build has no oto player: oto/v2 needs cgo and
// ALSA headers, so it is built only with `-tags oto` on Linux with cgo.
func openOto(PlayerConfig) (Player, error) {
	return nil, fmt.Errorf("audio: oto: not in this build (needs linux, cgo and -tags oto): %w", errors.ErrUnsupported)
}
