package validate

// The fixtures under ../testdata/cases (shared with the command's tests, and
// handy for trying `smtptls validate` by hand) and testdata/bench are
// written by a committed generator; rerun it after changing what a case expects.
//go:generate go run ./internal/gen -out ../testdata/cases -bench testdata/bench
//go:generate go test -run TestCodesDocIsCurrent -update .
