package city

import "github.com/cityarray/cityarray/mesh/record"

// FloodWarning is a flood warning in the 15 languages the network must
// show, as a native speaker would put it on a sign: the simulator's, the
// demo's and the benchmarks' alert.
var FloodWarning = map[string]record.AlertText{
	"en":      {Short: "Flood warning: move to higher ground now", Speak: "Flood warning. Move to higher ground now."},
	"es":      {Short: "Alerta de inundación: diríjase a un lugar más alto"},
	"zh-Hans": {Short: "洪水警报：请立即转移到高处"},
	"zh-Hant": {Short: "洪水警報：請立即轉移到高處"},
	"tl":      {Short: "Babala sa baha: lumikas sa mas mataas na lugar"},
	"vi":      {Short: "Cảnh báo lũ lụt: hãy di chuyển lên chỗ cao hơn"},
	"ar":      {Short: "تحذير من الفيضانات: انتقلوا إلى مكان مرتفع"},
	"fr":      {Short: "Alerte inondation : montez sur un terrain plus élevé"},
	"ko":      {Short: "홍수 경보: 높은 곳으로 대피하십시오"},
	"ru":      {Short: "Угроза наводнения: поднимитесь на возвышенность"},
	"ht":      {Short: "Avètisman inondasyon: ale kote ki pi wo"},
	"pt":      {Short: "Alerta de inundação: vá para um local mais alto"},
	"hi":      {Short: "बाढ़ की चेतावनी: तुरंत ऊँचे और सुरक्षित स्थान पर जाएँ"},
	"ja":      {Short: "洪水警報：高い場所へ避難してください"},
	"pl":      {Short: "Ostrzeżenie powodziowe: przejdź na wyższy teren"},
	"bn":      {Short: "বন্যা সতর্কতা: উঁচু ও নিরাপদ স্থানে চলে যান"},
}

// FloodAlert is FloodWarning as an alert body.
func FloodAlert() *record.Alert {
	texts := make(map[string]record.AlertText, len(FloodWarning))
	for l, t := range FloodWarning {
		texts[l] = t
	}
	return &record.Alert{Texts: texts, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met", Icon: "flood"}
}
