// Validates custom resources against their CRDs' schemas (the validators that
// @kubernetes-models generates from each operator's CRDs, pinned in
// package-lock.json). Reads a JSON array of resources on stdin; prints one line
// per resource; exits 1 if any is invalid or of a kind it has no schema for.
//
//   node validate.mjs < resources.json
const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = false;
for (const resource of JSON.parse(input)) {
  const [group, version] = resource.apiVersion.split("/");
  const name = `${resource.kind}/${resource.metadata?.name}`;
  const pkg = PACKAGES[group];
  if (!pkg) {
    console.log(`FAIL ${name}: no schema for ${resource.apiVersion}`);
    failed = true;
    continue;
  }
  try {
    const module = await import(`${pkg}/${group}/${version}/${resource.kind}`);
    new module[resource.kind](resource).validate();
    console.log(`ok   ${name} (${resource.apiVersion}, ${pkg})`);
  } catch (e) {
    console.log(`FAIL ${name} (${resource.apiVersion}): ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
