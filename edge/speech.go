package edge

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/mesh/record"
)

// speechFor is what a pole says for an alert in lang: the text meant for
// speech if there is one, else the short text.
func speechFor(t record.AlertText) string {
	if t.Speak != "" {
		return t.Speak
	}
	return t.Short
}

// speechTexts is the alert's text to say, by language.
func speechTexts(a *record.Alert) map[string]string {
	m := make(map[string]string, len(a.Texts))
	for l, t := range a.Texts {
		m[l] = speechFor(t)
	}
	return m
}

// spoken returns what the pole says for s: for each language it shows, the
// language and voice that can say it (a language without a voice falls
// back to the next of the zone's list), each language once.
func (p *Pole) spoken(s *Showable) []audio.Choice {
	if p.tts == nil || !p.ttsReady.Load() {
		return nil
	}
	zone := p.cfg.Languages.For(p.ident.Zone)
	texts := speechTexts(s.Alert)
	var out []audio.Choice
	for _, lang := range Languages(s.Alert, zone) {
		c, err := audio.Choose(p.tts, lang, zone, texts)
		if err != nil {
			p.fault("speech "+lang, fmt.Sprintf("%v; not spoken", err))
			continue
		}
		if c.FellBack {
			p.fault("speech "+lang, fmt.Sprintf("%s; spoke %s", c.Reason, c.Lang))
		}
		if !slices.ContainsFunc(out, func(x audio.Choice) bool { return x.Lang == c.Lang }) {
			out = append(out, c)
		}
	}
	return out
}

// prepareSpeech has speech for s synthesised now, so that it plays at once
// when s goes on show, and without a network.
func (p *Pole) prepareSpeech(ctx context.Context, s *Showable) {
	if p.speech == nil {
		return
	}
	for _, c := range p.spoken(s) {
		p.speech.Prepare(ctx, audio.Request{ID: s.ID.String(), Lang: c.Lang, Text: c.Text, Priority: int(s.Tier)})
	}
}

// playReq asks the speaker to sound s: its tier's tone, then its speech.
type playReq struct {
	item    Showable
	choices []audio.Choice
	volume  int
}

// playDone is the outcome of a playReq.
type playDone struct {
	rec record.ID
	err error
}

// contentKey identifies what an alert says, so that a renewal (a new
// record with the same content) is not said aloud again.
func contentKey(s *Showable) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(s.Tier)})
	langs := make([]string, 0, len(s.Alert.Texts))
	for l := range s.Alert.Texts {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	for _, l := range langs {
		t := s.Alert.Texts[l]
		for _, f := range []string{l, t.Short, t.Long, t.Speak} {
			h.Write(binary.AppendUvarint(nil, uint64(len(f))))
			h.Write([]byte(f))
		}
	}
	return [32]byte(h.Sum(nil))
}

// maybePlay sounds s unless the same content was sounded before.
func (p *Pole) maybePlay(s *Showable, st *loopState, plays chan<- playReq) {
	k := contentKey(s)
	if st.played[k] {
		return
	}
	st.played[k] = true
	select {
	case plays <- playReq{item: *s, choices: p.spoken(s), volume: st.volume}:
	default:
		p.log.Warn("speaker busy: alert not sounded", "record", s.ID.Short())
	}
}

// speak plays what the loop asks, one request at a time, until ctx ends.
func (p *Pole) speak(ctx context.Context, plays <-chan playReq, done chan<- playDone) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-plays:
			err := p.play(ctx, r)
			select {
			case done <- playDone{rec: r.item.ID, err: err}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// play sounds one request: the tier's tone, then each language's speech
// (waiting a little for speech still being prepared).
func (p *Pole) play(ctx context.Context, r playReq) error {
	tone, err := scaledTone(r.item.Tier, r.volume)
	if err != nil {
		return fmt.Errorf("tone: %w", err)
	}
	if err := p.player.Play(ctx, tone); err != nil {
		return fmt.Errorf("speaker: %w", err)
	}
	if p.speech == nil {
		return nil
	}
	for _, c := range r.choices {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		clip, err := p.speech.Wait(wctx, r.item.ID.String(), c.Lang)
		cancel()
		if err != nil {
			p.fault("speech "+c.Lang, fmt.Sprintf("%v; not spoken", err))
			continue
		}
		if err := p.player.Play(ctx, scaled(clip, r.volume)); err != nil {
			return fmt.Errorf("speaker: %w", err)
		}
	}
	return nil
}

// afterPlay acks played, or reports the speaker's fault.
func (p *Pole) afterPlay(d playDone, acks chan<- []AckRequest) {
	if d.err != nil {
		p.fault("audio", d.err.Error())
		return
	}
	p.fault("audio", "")
	p.ack(acks, AckRequest{Record: d.rec, State: record.AckPlayed})
}

// scaledTone returns the tier's attention tone at volume percent. The
// tone itself is made once per process (audio.Tone); below full volume it
// is scaled once per process for each volume too (a tone is seconds of
// samples: scaling it for every alert on every pole of a simulated city
// cost more than its signature checks). Players only read it.
func scaledTone(tier record.Tier, volume int) (*audio.Clip, error) {
	tone, err := audio.Tone(int(tier), 22050)
	if err != nil || volume >= 100 {
		return tone, err
	}
	key := [2]int{int(tier), volume}
	if c, ok := scaledTones.Load(key); ok {
		return c.(*audio.Clip), nil
	}
	c, _ := scaledTones.LoadOrStore(key, scaled(tone, volume))
	return c.(*audio.Clip), nil
}

// scaledTones holds scaledTone's clips below full volume, by tier and
// volume.
var scaledTones sync.Map

// scaled returns c at volume percent (c itself at 100 or more).
func scaled(c *audio.Clip, volume int) *audio.Clip {
	if volume >= 100 || c == nil {
		return c
	}
	out := *c
	out.Samples = make([]int16, len(c.Samples))
	for i, s := range c.Samples {
		out.Samples[i] = int16(int32(s) * int32(volume) / 100)
	}
	return &out
}
