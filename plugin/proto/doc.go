// Package energypb holds the gRPC stubs generated from energy.proto, the
// service between gobg's energy host (package plugin) and its worker
// processes. Regenerate with scripts/gen-proto.sh; do not edit *.pb.go.
package energypb
