package cli

import (
	"encoding/json"
	"fmt"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/server"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// newBenchServerCmd is `cityarray bench server`: the control server's
// publish latency and ack throughput, next to the machine's bare
// signature-verification rate.
func newBenchServerCmd(e *env) *cobra.Command {
	var cfg city.ServerBenchConfig
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "server [--json]",
		Short: "Publish latency and ack throughput of a control server started in this process",
		Long: "bench server starts a real control server in this process (a temporary directory,\n" +
			"a PKI made on the fly, HTTPS, the embedded MQTT broker) and measures:\n" +
			"  publish: the POST that publishes an approved warning (HTTPS, a supervisor's\n" +
			"    session) until an MQTT subscriber with a device certificate has the signed\n" +
			"    record, p50 and p99 over --samples warnings;\n" +
			"  acks: signed device acks from --devices keys, published over MQTT by --senders\n" +
			"    clients at once, until the fleet has counted all --acks (verified, stored, counted);\n" +
			"  raw verify: bare crypto/ed25519.Verify on every core, the ceiling for acks the\n" +
			"    aim is set against; and the same with a prepared key (record.PublicKey, what\n" +
			"    the server verifies with: the same rules, about half the cost).\n" +
			"Other work on the machine lowers every figure: run it on a quiet one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			// The server runs in this process: tune its runtime as
			// `cityarray server` does with its defaults.
			server.ApplyRuntime(server.DefaultConfig().Runtime)
			res, err := city.RunServerBench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench server: %w", err)
			}
			out := cmd.OutOrStdout()
			ratio := 0.0
			if res.RawVerifyPerSec > 0 {
				ratio = res.AcksPerSec / res.RawVerifyPerSec
			}
			ratioPrepared := 0.0
			if res.RawPreparedPerSec > 0 {
				ratioPrepared = res.AcksPerSec / res.RawPreparedPerSec
			}
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{
					"publish_p50_ms": ms(res.PublishP50), "publish_p99_ms": ms(res.PublishP99),
					"acks_per_s": res.AcksPerSec, "raw_verify_per_s": res.RawVerifyPerSec,
					"publish_max_ms": ms(res.PublishMax), "publish_http_p50_ms": ms(res.PublishHTTPP50), "samples": res.Samples,
					"acks": res.Acks, "devices": res.Devices, "senders": res.Senders, "ack_seconds": res.AckTime.Seconds(),
					"acks_over_raw_verify": ratio, "cores": res.Cores,
					"raw_verify_prepared_per_s": res.RawPreparedPerSec, "acks_over_raw_prepared": ratioPrepared,
					"inbox_dropped": res.InboxDropped, "broker_inbox_full": res.BrokerInboxFull, "rejected": res.Refused,
					"cpu_us_per_ack": us(res.CPUPerAck), "cpu_us_per_verify": us(res.CPUPerVerify),
					"mean_batch": res.MeanBatch,
				})
			}
			fmt.Fprintf(out, "control server on %d cores\n", res.Cores)
			fmt.Fprintf(out, "%-34s %12s %12s %12s\n", "", "p50", "p99", "max")
			fmt.Fprintf(out, "%-34s %10.1fms %10.1fms %10.1fms\n", fmt.Sprintf("publish → subscriber (%d warnings)", res.Samples),
				ms(res.PublishP50), ms(res.PublishP99), ms(res.PublishMax))
			fmt.Fprintf(out, "%-34s %10.1fms\n", "publish → HTTP answer", ms(res.PublishHTTPP50))
			fmt.Fprintf(out, "%-34s %12.0f  (%d acks, %d devices, %d MQTT clients, %v)\n", "acks/s (verified, stored, counted)",
				res.AcksPerSec, res.Acks, res.Devices, res.Senders, res.AckTime.Round(time.Millisecond))
			fmt.Fprintf(out, "%-34s %12.0f\n", "bare ed25519.Verify/s, all cores", res.RawVerifyPerSec)
			fmt.Fprintf(out, "%-34s %12.2f  (aim ≥ 0.5)\n", "acks/s ÷ bare verify/s", ratio)
			fmt.Fprintf(out, "%-34s %12.0f  (acks/s ÷ it: %.2f)\n", "prepared-key verify/s, all cores", res.RawPreparedPerSec, ratioPrepared)
			if res.CPUPerAck > 0 {
				fmt.Fprintf(out, "%-34s %10.0fµs  (bare verify %.0fµs; server and the bench's MQTT clients)\n", "CPU per ack", us(res.CPUPerAck), us(res.CPUPerVerify))
			}
			fmt.Fprintf(out, "%-34s %12.0f  (records per store transaction)\n", "mean batch", res.MeanBatch)
			if res.InboxDropped+res.BrokerInboxFull+res.Refused > 0 {
				fmt.Fprintf(out, "dropped %d, broker inbox full %d, rejected %d\n", res.InboxDropped, res.BrokerInboxFull, res.Refused)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&cfg.Samples, "samples", 200, "warnings published for the latency")
	f.IntVar(&cfg.Devices, "devices", 500, "device keys that sign the acks")
	f.IntVar(&cfg.Acks, "acks", 20000, "acks sent")
	f.IntVar(&cfg.Senders, "senders", 8, "MQTT clients sending acks at once")
	f.IntVar(&cfg.Window, "window", mqttlink.DefaultWindow, "records each sender may have waiting for their receipt (as a gateway's outbox: mqttlink.DefaultWindow)")
	f.DurationVar(&cfg.VerifyFor, "verify-for", 2*time.Second, "how long the bare verification loop runs")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	return cmd
}
