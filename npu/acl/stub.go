//go:build !(ascend && cgo)

package acl

import "bloom/npu"

// In a build without the tag ascend (or without cgo), "acl" is registered
// with an opener that says how to build the real backend.
func init() {
	npu.Register("acl", func(npu.Options) (npu.Device, error) { return nil, ErrNotBuilt })
}

// DeviceCount returns ErrNotBuilt: this build has no Ascend backend.
func DeviceCount() (int, error) { return 0, ErrNotBuilt }
