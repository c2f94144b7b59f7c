//go:build !(linux && cgo)

package audio

import (
	"errors"
	"fmt"
)

// openOto reports that this build has no oto player: oto/v2 needs cgo and
// the ALSA headers, so it is built only on Linux with cgo.
func openOto(PlayerConfig) (Player, error) {
	return nil, fmt.Errorf("audio: oto: not in this build (needs linux and cgo; CGO_ENABLED=0 builds play through aplay): %w", errors.ErrUnsupported)
}
