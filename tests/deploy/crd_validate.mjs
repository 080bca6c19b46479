// Validate custom resources (JSON array on stdin) with the upstream-generated validators of
// @kubernetes-models/keda and @kubernetes-models/prometheus-operator (ajv code generated from the
// projects' CRD openAPIV3Schema). Complements tests/deploy/schemas/: these check values
// (patterns, enums, types) against the real CRDs but let unknown fields through; ours reject those.
// Run from a folder whose node_modules holds the packages (.ci/install-k8s-tools.sh puts them in
// ~/.cache/finsent/npm); tests/deploy/test_k8s.py copies this file there.
import fs from "node:fs";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const kinds = { ScaledObject, TriggerAuthentication, ServiceMonitor, PrometheusRule };
let failed = 0;
let checked = 0;
for (const doc of JSON.parse(fs.readFileSync(0, "utf8"))) {
  const Model = kinds[doc.kind];
  if (!Model) continue;
  checked++;
  try {
    new Model(doc).validate();
  } catch (e) {
    failed++;
    console.log(`FAIL ${doc.kind}/${doc.metadata.name}: ${e.message}`);
  }
}
console.log(`checked ${checked}, failed ${failed}`);
process.exit(failed ? 1 : 0);
