#!/usr/bin/env bash
# Checks the Helm chart in helm/tracepipe:
#
#   scripts/helm-check.sh
#
# 1. Installs pinned helm and kubeconform with `go install` (only the Go module
#    proxy is reachable) into $TRACEPIPE_CACHE/go/bin; GOPATH, GOMODCACHE and
#    GOCACHE live under $TRACEPIPE_CACHE/go so they persist between runs.
# 2. Makes kubeconform's JSON schemas offline (kubeconform would download them
#    from GitHub, which is out of reach): the Kubernetes ones from the OpenAPI
#    document (api/openapi-spec/swagger.json) inside the Go module
#    k8s.io/kubernetes, KEDA's ScaledObject/TriggerAuthentication from the CRDs
#    in github.com/kedacore/keda/v2, the ServiceMonitor from the CRD in
#    github.com/prometheus-operator/prometheus-operator. A small Go program
#    (written below, built in the cache) turns them into kubeconform's
#    "standalone-strict" layout: every object schema closed with
#    additionalProperties: false (except where Kubernetes keeps unknown
#    fields), int-or-string and quantities typed as Kubernetes accepts them,
#    apiVersion and kind pinned. No kind is skipped.
# 3. For the default values and for ci/production-values.yaml: `helm lint
#    --strict` and `helm template | kubeconform -strict -summary`.
# 4. Renders that must fail do fail, with their message: a KEDA
#    maxReplicaCount above kafka.partitions, a replica count above it, a
#    misspelt values key (values.schema.json), a missing database secret, a
#    gateway.readUploads that is neither later nor in_request.
#
# Idempotent: a second run only lints and validates (a few seconds). Set
# TRACEPIPE_CACHE to move the cache (default $HOME/.cache/tracepipe).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="$root/helm/tracepipe"

# Pinned versions. helm's Kubernetes libraries (k8s.io/client-go v0.37 for
# helm v3.22.0) decide the Kubernetes version helm assumes and the one whose
# schemas are checked against.
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=v1.37.2
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0

cache="${TRACEPIPE_CACHE:-$HOME/.cache/tracepipe}"
export GOPATH="$cache/go"
export GOMODCACHE="$GOPATH/pkg/mod"
export GOCACHE="$GOPATH/cache"
export GOFLAGS=-mod=mod
bin="$GOPATH/bin"
mkdir -p "$bin"
export PATH="$bin:$PATH"

command -v go >/dev/null || { echo "helm-check: needs Go (go install)" >&2; exit 1; }

# mod_dir MODULE@VERSION: downloads a module (cached) and prints its directory.
mod_dir() {
    local json
    json="$(go mod download -json "$1")" || { echo "helm-check: cannot download $1" >&2; return 1; }
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
}

# helm, with the version and Kubernetes version its Makefile stamps in (a
# plain `go install` leaves helm believing it talks to Kubernetes 1.20).
if [[ "$("$bin/helm" version --template '{{.Version}}' 2>/dev/null || true)" != "$HELM_VERSION" ]]; then
    echo "::: installing helm $HELM_VERSION"
    helm_dir="$(mod_dir "helm.sh/helm/v3@$HELM_VERSION")"
    client_go="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$helm_dir/go.mod" | head -1)"
    [[ -n "$client_go" ]] || { echo "helm-check: no k8s.io/client-go in helm's go.mod" >&2; exit 1; }
    ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for pkg in pkg/lint/rules pkg/chartutil; do
        ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$client_go"
    done
    go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

if [[ "$("$bin/kubeconform" -v 2>/dev/null || true)" != "$KUBECONFORM_VERSION" ]]; then
    echo "::: installing kubeconform $KUBECONFORM_VERSION"
    go install -ldflags "-X main.version=$KUBECONFORM_VERSION" \
        "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

# The schema generator. Its source is part of the cache key, so a change here
# regenerates the schemas.
read -r -d '' generator <<'GO' || true
// schemagen writes kubeconform "standalone-strict" JSON schemas, one file per
// kind and version, named as kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}
// template expects (deployment-apps-v1.json, service-v1.json,
// scaledobject-keda-v1alpha1.json), from a Kubernetes OpenAPI v2 document
// and from CustomResourceDefinition files.
//
//	schemagen -out DIR -swagger swagger.json [crd.yaml ...]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

type obj = map[string]any

const quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"

func main() {
	out := flag.String("out", "", "output directory")
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 document")
	flag.Parse()
	if *out == "" || *swagger == "" {
		fmt.Fprintln(os.Stderr, "usage: schemagen -out DIR -swagger swagger.json [crd.yaml ...]")
		os.Exit(2)
	}
	check(os.MkdirAll(*out, 0o755))
	n := fromSwagger(*swagger, *out)
	for _, crd := range flag.Args() {
		n += fromCRD(crd, *out)
	}
	fmt.Printf("schemagen: %d schemas in %s\n", n, *out)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

// fileName is kubeconform's lower-case kind plus "-<first label of the
// group>" (none for the core group) plus "-<version>".
func fileName(kind, group, version string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return name + "-" + strings.ToLower(version) + ".json"
}

func apiVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

var refRe = regexp.MustCompile(`^#/definitions/(.+)$`)

// refs collects every definition that v refers to.
func refs(v any, found map[string]bool, defs obj) {
	switch t := v.(type) {
	case obj:
		if r, ok := t["$ref"].(string); ok {
			if m := refRe.FindStringSubmatch(r); m != nil && !found[m[1]] {
				found[m[1]] = true
				refs(defs[m[1]], found, defs)
			}
		}
		for _, x := range t {
			refs(x, found, defs)
		}
	case []any:
		for _, x := range t {
			refs(x, found, defs)
		}
	}
}

// strict closes object schemas and types what Kubernetes accepts loosely.
func strict(v any) any {
	switch t := v.(type) {
	case obj:
		if t["format"] == "int-or-string" || t["x-kubernetes-int-or-string"] == true {
			out := obj{"oneOf": []any{obj{"type": "string"}, obj{"type": "integer"}}}
			if d, ok := t["description"]; ok {
				out["description"] = d
			}
			return out
		}
		out := obj{}
		for k, x := range t {
			if k == "properties" || k == "definitions" || k == "patternProperties" {
				m := obj{}
				for name, s := range x.(obj) {
					m[name] = strict(s)
				}
				out[k] = m
				continue
			}
			out[k] = strict(x)
		}
		_, hasProps := t["properties"]
		_, hasAdditional := t["additionalProperties"]
		if hasProps && !hasAdditional && t["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = strict(x)
		}
		return out
	}
	return v
}

// pin fixes apiVersion and kind of a top-level schema.
func pin(schema obj, group, version, kind string) {
	props, _ := schema["properties"].(obj)
	if props == nil {
		props = obj{}
		schema["properties"] = props
	}
	props["apiVersion"] = obj{"type": "string", "enum": []any{apiVersion(group, version)}}
	props["kind"] = obj{"type": "string", "enum": []any{kind}}
}

func write(dir, name string, schema obj) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	check(enc.Encode(schema))
	check(os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644))
}

func fromSwagger(path, out string) int {
	data, err := os.ReadFile(path)
	check(err)
	var doc obj
	check(json.Unmarshal(data, &doc))
	defs := doc["definitions"].(obj)
	// Quantities are written as strings or numbers ("500m", 2).
	if q, ok := defs[quantity].(obj); ok {
		delete(q, "type")
		q["oneOf"] = []any{obj{"type": "string"}, obj{"type": "number"}}
	}
	n := 0
	for name, d := range defs {
		def := d.(obj)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(obj)
			group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
			found := map[string]bool{}
			refs(def, found, defs)
			delete(found, name)
			included := obj{}
			for r := range found {
				included[r] = defs[r]
			}
			schema := strict(def).(obj)
			if len(included) > 0 {
				schema["definitions"] = strict(included)
			}
			pin(schema, group, version, kind)
			write(out, fileName(kind, group, version), schema)
			n++
		}
	}
	return n
}

func fromCRD(path, out string) int {
	data, err := os.ReadFile(path)
	check(err)
	n := 0
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema obj `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		check(yaml.Unmarshal([]byte(part), &crd))
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			schema := strict(v.Schema.OpenAPIV3Schema).(obj)
			pin(schema, crd.Spec.Group, v.Name, crd.Spec.Names.Kind)
			write(out, fileName(crd.Spec.Names.Kind, crd.Spec.Group, v.Name), schema)
			n++
		}
	}
	if n == 0 {
		check(fmt.Errorf("%s: no CustomResourceDefinition with a schema", path))
	}
	return n
}
GO

# helm's go.mod, from the module cache (fetched again if the cache was
# cleaned while the built helm stayed).
helm_mod="$GOMODCACHE/cache/download/helm.sh/helm/v3/@v/$HELM_VERSION.mod"
[[ -f "$helm_mod" ]] || go mod download -json "helm.sh/helm/v3@$HELM_VERSION" >/dev/null || true
yaml_version="$({ sed -n 's/^[[:space:]]*sigs.k8s.io\/yaml \(v[0-9.]*\).*/\1/p' "$helm_mod" 2>/dev/null || true; } | head -1)"
yaml_version="${yaml_version:-v1.6.0}"
key="$(printf '%s\n' "$generator" "$KUBERNETES_VERSION" "$KEDA_VERSION" "$PROMETHEUS_OPERATOR_VERSION" "$yaml_version" |
    sha256sum | cut -c1-12)"
schemas="$cache/kubeconform-schemas/$KUBERNETES_VERSION-$key"
if [[ ! -f "$schemas/.complete" ]]; then
    echo "::: kubeconform schemas: Kubernetes $KUBERNETES_VERSION, KEDA $KEDA_VERSION, Prometheus Operator $PROMETHEUS_OPERATOR_VERSION"
    gen="$cache/schemagen"
    mkdir -p "$gen"
    printf '%s\n' "$generator" >"$gen/main.go"
    cat >"$gen/go.mod" <<MOD
module tracepipe.local/schemagen

go 1.22

require sigs.k8s.io/yaml $yaml_version
MOD
    (cd "$gen" && go mod tidy >/dev/null && go build -o "$gen/schemagen" .)

    k8s_dir="$(mod_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    keda_dir="$(mod_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
    promop_dir="$(mod_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
    rm -rf "$schemas.tmp"
    "$gen/schemagen" -out "$schemas.tmp" -swagger "$k8s_dir/api/openapi-spec/swagger.json" \
        "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
        "$keda_dir/config/crd/bases/keda.sh_triggerauthentications.yaml" \
        "$promop_dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
    touch "$schemas.tmp/.complete"
    rm -rf "$schemas"
    mv "$schemas.tmp" "$schemas"
    # Only swagger.json was needed from Kubernetes' 124 MB source tree; the
    # module's zip stays in the download cache, so `go mod download` can
    # unpack it again.
    chmod -R u+w "$k8s_dir" && rm -rf "$k8s_dir"
fi

location="$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json"
failures=0

# validate NAME [helm args…]: lints and renders the chart, validates every object.
validate() {
    local name="$1"
    shift
    echo "::: $name: helm lint"
    if ! helm lint --strict "$chart" "$@"; then
        failures=$((failures + 1))
        return
    fi
    echo "::: $name: helm template | kubeconform"
    local rendered
    if ! rendered="$(helm template tracepipe "$chart" --namespace tracepipe "$@")"; then
        failures=$((failures + 1))
        return
    fi
    if ! kubeconform -strict -summary -schema-location "$location" <<<"$rendered"; then
        failures=$((failures + 1))
    fi
}

# refuses NAME PATTERN [helm args…]: rendering must fail, saying PATTERN.
refuses() {
    local name="$1" pattern="$2" out
    shift 2
    if out="$(helm template tracepipe "$chart" "$@" 2>&1)"; then
        echo "FAIL: $name: rendered, but must be refused" >&2
        failures=$((failures + 1))
    elif ! grep -q -- "$pattern" <<<"$out"; then
        echo "FAIL: $name: refused without saying '$pattern':" >&2
        echo "$out" >&2
        failures=$((failures + 1))
    else
        echo "refused as it should: $name"
    fi
}

# The schemas must refuse what they should: an unknown field is invalid.
echo "::: kubeconform schemas are strict"
canary='{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1,"bogus":1,"selector":{},"template":{}}}'
if kubeconform -strict -schema-location "$location" <<<"$canary" >/dev/null 2>&1; then
    echo "FAIL: kubeconform accepted a Deployment with an unknown field: the schemas in $schemas are not strict" >&2
    failures=$((failures + 1))
fi

validate "default values"
validate "ci/production-values.yaml" -f "$chart/ci/production-values.yaml"

# The repository's catalog/ as catalog.files (a ConfigMap made by the chart).
catalog_values="$(mktemp)"
trap 'rm -f "$catalog_values"' EXIT
{
    echo "catalog:"
    echo "  source: configMap"
    echo "  files:"
    (cd "$root/catalog" && find . -name '*.json' | LC_ALL=C sort) | while read -r file; do
        echo "    \"${file#./}\": |"
        sed 's/^/      /' "$root/catalog/$file"
        echo
    done
} >"$catalog_values"
validate "catalog/ as catalog.files" -f "$catalog_values"

echo "::: renders that must be refused"
refuses "processor KEDA max above partitions" "processor.keda.maxReplicaCount (5) is above kafka.partitions (4)" \
    --set processor.keda.enabled=true --set processor.keda.maxReplicaCount=5
refuses "sink KEDA max above partitions" "sink.keda.maxReplicaCount (13) is above kafka.partitions (12)" \
    -f "$chart/ci/production-values.yaml" --set sink.keda.maxReplicaCount=13
refuses "processor replicas above partitions" "processor.replicaCount (9) is above kafka.partitions (4)" \
    --set processor.replicaCount=9
refuses "misspelt values key" "additional properties 'replicas' not allowed" \
    --set gateway.replicas=3
refuses "no database secret" "database.existingSecret is required" \
    --set database.existingSecret=
refuses "unknown read_uploads" "gateway.readUploads" \
    --set gateway.readUploads=sometimes

if ((failures)); then
    echo "helm-check: $failures check(s) failed" >&2
    exit 1
fi
echo "helm-check: passed (helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, schemas of Kubernetes $KUBERNETES_VERSION)"
