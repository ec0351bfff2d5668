package coord

import "errors"

// Sentinels for errors.Is. Decode errors wrap ErrBadCommand; Apply results
// wrap one of the others.
var (
	ErrBadCommand      = errors.New("coord: bad command")
	ErrUnknownVersion  = errors.New("coord: unknown command version")
	ErrBadSnapshot     = errors.New("coord: bad snapshot")
	ErrNotFound        = errors.New("coord: not found")
	ErrExists          = errors.New("coord: already exists")
	ErrBadTransition   = errors.New("coord: state transition not allowed")
	ErrClusterIDChange = errors.New("coord: cluster id already set")
	ErrStaleCheckpoint = errors.New("coord: checkpoint older than the last committed one")
	ErrRetireNewest    = errors.New("coord: the newest checkpoint is kept")
)
