package render

import "github.com/cityarray/cityarray/mesh/record"

// sample is a realistic short alert in one of the 15 languages the network
// must show: "Flood warning: move to higher ground", written as a native
// speaker would put it on a sign.
type sample struct {
	name string // golden file name
	lang string
	text string
	rtl  bool
}

var samples = []sample{
	{"en", "en", "Flood warning: move to higher ground now", false},
	{"es", "es", "Alerta de inundación: diríjase a un lugar más alto", false},
	{"zh-Hans", "zh-Hans", "洪水警报：请立即转移到高处", false},
	{"zh-Hant", "zh-Hant", "洪水警報：請立即轉移到高處", false},
	{"tl", "tl", "Babala sa baha: lumikas sa mas mataas na lugar", false},
	{"vi", "vi", "Cảnh báo lũ lụt: hãy di chuyển lên chỗ cao hơn", false},
	{"ar", "ar", "تحذير من الفيضانات: انتقلوا إلى مكان مرتفع", true},
	{"fr", "fr", "Alerte inondation : montez sur un terrain plus élevé", false},
	{"ko", "ko", "홍수 경보: 높은 곳으로 대피하십시오", false},
	{"ru", "ru", "Угроза наводнения: поднимитесь на возвышенность", false},
	{"ht", "ht", "Avètisman inondasyon: ale kote ki pi wo", false},
	{"pt", "pt", "Alerta de inundação: vá para um local mais alto", false},
	{"hi", "hi", "बाढ़ की चेतावनी: तुरंत ऊँचे और सुरक्षित स्थान पर जाएँ", false},
	{"ja", "ja", "洪水警報：高い場所へ避難してください", false},
	{"pl", "pl", "Ostrzeżenie powodziowe: przejdź na wyższy teren", false},
	{"bn", "bn", "বন্যা সতর্কতা: উঁচু ও নিরাপদ স্থানে চলে যান", false},
}

// sampleContent is the content of a sample at warning tier.
func sampleContent(s sample) Content {
	return Content{Tier: record.TierWarning, Lang: s.lang, Text: s.text}
}
