// Package openapi holds the API contract, openapi.yaml, from which gen/ is generated.
package openapi

import _ "embed"

// Spec is openapi.yaml as written, served at /openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte

//go:generate go tool oapi-codegen -config server.cfg.yaml openapi.yaml
//go:generate go tool oapi-codegen -config client.cfg.yaml openapi.yaml
