package validate

// The fixtures under testdata/cases and testdata/bench are written by a
// committed generator; rerun it after changing what a case expects.
//go:generate go run ./internal/gen -out testdata/cases
//go:generate go test -run TestCodesDocIsCurrent -update .
