package hub75

// Test helpers for the external hub75_test package.
var (
	RunModel   = run
	CheckShown = checkShown
	TestFrame  = testFrame
)
