package audio_test

import (
	"context"
	"fmt"

	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/audio/audiotest"
)

// The edge's path for one alert: choose the language, prepare its speech
// when the alert arrives, then sound the tier's tone and the speech. The
// fakes stand in for espeak-ng (which has no Tagalog voice) and the
// speaker.
func Example() {
	ctx := context.Background()
	tts := &audiotest.TTS{Voices: map[string]string{"en": "en-us", "es": "es-419"}}
	lib := audio.NewLibrary(audio.LibraryConfig{TTS: tts})
	defer lib.Close()
	speaker := &audiotest.Sink{}

	// The alert arrives, written in Tagalog, with English and Spanish too.
	texts := map[string]string{"tl": "Babala sa baha.", "en": "Flood warning.", "es": "Alerta de inundación."}
	choice, err := audio.Choose(tts, "tl", []string{"tl", "en", "es"}, texts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("health:", choice.Reason)
	job := lib.Prepare(ctx, audio.Request{ID: "alert-1", Lang: choice.Lang, Text: choice.Text, Priority: audio.TierWarning})

	// Later, the alert is shown: the tone, then the prepared speech.
	tone, _ := audio.Tone(audio.TierWarning, 22050)
	speaker.Play(ctx, tone)
	speech, err := job.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	speaker.Play(ctx, speech)
	fmt.Printf("played %d clips, %v in all\n", len(speaker.Clips()), speaker.Audio().Duration().Round(1e7))
	// Output:
	// health: audio: no voice: tl: the fake TTS has no voice for it; spoke en instead
	// played 2 clips, 2.34s in all
}
