// Package audio is the pole's sound: alert speech from espeak-ng, an
// attention tone per tier generated in Go, a library that prepares speech
// the moment an alert arrives, and players that send it to the speaker.
//
// # Clips and WAV
//
// A [Clip] is 16-bit PCM in memory. [ParseWAV] reads RIFF/WAVE strictly
// and names what is wrong with a bad file; it accepts the placeholder
// sizes espeak-ng writes when streaming to a pipe (RIFF 0x7FFFF024, data
// 0x7FFFF000 with espeak-ng 1.51; 0xFFFFFFFF from sox and ffmpeg) by
// reading the data to EOF. [Clip.WriteWAV] writes exact sizes.
//
// # Speech
//
// [Espeak] runs `espeak-ng -b 1 -v VOICE --stdin --stdout` once per
// synthesis, with the text on stdin: text never reaches the command line,
// so a text such as "--help" is spoken, not obeyed. Control characters are
// replaced with spaces first, the text length is capped (2000 runes) and
// refused rather than cut, the output is capped (32 MiB) and every run has
// a timeout. --stdin reads the whole text at once rather than line by
// line, so line breaks in an alert do not break its prosody. [Espeak.Init] finds the binary
// and lists its installed voices with `espeak-ng --voices`.
//
// # Voice table
//
// Languages are BCP 47 tags. These findings are for espeak-ng 1.51 (Debian
// 12), checked by synthesising a flood warning in each language and
// reading the phonemes `espeak-ng -q --ipa` prints: a voice that does not
// cover a script switches to English rules, marked "(en)", or spells
// characters out ("Chinese letter"). The tests repeat both checks.
//
//	language            tag            voice            finding
//	English             en             en-us            en-GB, -IE, -AU, -NZ, -ZA → en-gb
//	Spanish             es             es-419           Latin American by default; es-ES → es
//	Chinese, simplified zh-Hans, zh    cmn-latn-pinyin  reads Han as Mandarin
//	Chinese, tradit.    zh-Hant, zh-TW cmn-latn-pinyin  報, 請, 轉 read exactly as 报, 请, 转
//	Tagalog             tl (fil)       none             espeak-ng has no Tagalog or Filipino voice
//	Vietnamese          vi             vi               Northern; vi-vn-x-central, -south exist
//	Arabic              ar             ar               reads unvocalised text
//	French              fr             fr-fr            fr-BE → fr-be, fr-CH → fr-ch; no Canadian voice
//	Korean              ko             ko               reads Hangul
//	Russian             ru             ru
//	Haitian Creole      ht             ht
//	Portuguese          pt             pt-br            Brazilian by default; pt-PT → pt
//	Hindi               hi             hi               reads Devanagari
//	Japanese            ja             ja               kana only: each kanji is read "Chinese letter"
//	Polish              pl             pl
//	Bengali             bn             bn               reads Bengali script
//
// Two traps the table avoids. The voice named cmn, which `-v zh` also
// selects, turns Han into tone-numbered pinyin and reads that with English
// letter rules ("(en)hə5ŋtˈuː5…" for 洪水; espeak-ng issues #1028 and
// #1236), so Chinese always uses cmn-latn-pinyin. And ja cannot read
// kanji, so Japanese text containing any is refused with [ErrNoVoice] and
// the alert falls back (below); kana-only text is spoken. zh-HK and zh-MO
// map to yue (Cantonese, which reads Han correctly); a city whose
// Traditional-Chinese readers speak Cantonese can map zh-Hant to yue
// through [EspeakConfig].Voices. A language outside the table uses an
// installed voice of that name, or one listing it among its languages.
//
// # Fallback
//
// [Choose] picks the language to speak: the alert's own, or, when that
// cannot be spoken, the next language of the zone's list that the alert
// has text for (wrapping round the list). The [Choice] carries the reason
// for the edge's health record, e.g. "audio: no voice: tl: espeak-ng has
// no Tagalog/Filipino voice; spoke en instead".
//
// # Prepared speech
//
// A [Library] synthesises speech on a bounded worker pool as soon as an
// alert arrives ([Library.Prepare] never blocks), highest priority (tier)
// first, and keeps the clips under a byte bound with least-recently-used
// eviction, so playback starts at once and needs no network. Failures are
// counted and the last one is kept for health ([Library.Stats]).
//
// # Players
//
// [Open] returns a [Player]: "aplay" pipes a WAV to `aplay -q -t wav -`
// and is pure Go, so it is the release build's player (CGO_ENABLED=0);
// "oto" uses oto/v2 on ALSA and is built with cgo on Linux (it needs the
// ALSA headers, Debian's libasound2-dev, which .ci/run installs);
// "none" has no speaker; "auto" tries oto, then aplay. oto reports a
// missing sound card only through Context.Err once its ready channel has
// closed, so Open checks it there. audiotest.Sink captures clips in tests.
//
// # Tones
//
// [Tone] generates each tier's attention signal: informational, one soft
// chime (880 Hz); advisory, a two-note chime (659 then 523 Hz); warning,
// four bursts of the 853+960 Hz pair of the EAS and WEA attention signals;
// emergency, two rising sweeps then one WEA sequence (47 CFR 10.520(a):
// 2 s, 1 s, 1 s with 0.5 s gaps), loudest; IPAWS, one WEA sequence. Every
// segment fades in and out over 10 ms, so nothing clicks.
//
// # Faults
//
// Without espeak-ng the pole still starts: [Espeak.Init] returns an error
// wrapping [ErrNoSpeech], [Espeak.Status] reports the fault for health,
// and every synthesis fails fast with the same error while tones and
// display carry on.
package audio
