// Package fielderr is the error a configuration validator returns for one
// wrong field, shared by the controller's and the CLI's configurations.
package fielderr

import "fmt"

// Error is a configuration value that is wrong.
type Error struct {
	Field string // YAML path, e.g. dhcp.rangeStart
	Msg   string // what is expected
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// New returns the Error for field, its message formatted as fmt.Sprintf does.
func New(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}
