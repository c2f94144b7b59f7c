package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at link time by the Makefile:
//
//	-ldflags "-X github.com/cityarray/cityarray/cmd/cityarray/cli.version=v1.2.3
//	          -X github.com/cityarray/cityarray/cmd/cityarray/cli.commit=0123abcd"
//
// They are never written at run time.
var (
	version string
	commit  string
)

// versionInfo is what "cityarray version" reports.
type versionInfo struct {
	Version, Commit, GoVersion, OS, Arch string
}

// currentVersion returns the linked-in version and commit, falling back to
// the module version and VCS revision recorded by the go command, then to
// "dev" and "unknown".
func currentVersion() versionInfo {
	v := versionInfo{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		if v.Commit == "" {
			v.Commit = vcsRevision(bi.Settings)
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// vcsRevision returns the short VCS revision in settings, with "-dirty"
// when the tree was modified, or "".
func vcsRevision(settings []debug.BuildSetting) string {
	var rev string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine formats v as printed by --version and the version subcommand.
func versionLine(v versionInfo) string {
	return fmt.Sprintf("cityarray %s (commit %s, %s, %s/%s)", v.Version, v.Commit, v.GoVersion, v.OS, v.Arch)
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine(currentVersion()))
			return err
		},
	}
}
