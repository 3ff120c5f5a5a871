/**
 * Checks Kubernetes objects against the API schemas that the npm package
 * `kubernetes-models` compiles (its models' `validate()`), for
 * tests/deploy_manifests_test.ts:
 *
 *     deno run --no-config --lock=tests/support/kubernetes_schemas.lock --frozen \
 *       -A tests/support/kubernetes_schemas.ts OBJECTS.json
 *
 * reads a JSON array of objects and prints a JSON array with one entry per
 * object: `null` when it validates, else what is wrong. A kind that
 * {@link MODELS} does not list is wrong, never skipped.
 *
 * It runs as a process of its own, with a lock file of its own beside it,
 * and imports the package by a computed specifier that `deno check` does
 * not follow. That keeps the package (about 25 MB with its dependencies)
 * out of deno.lock: Deno caches every npm package of deno.lock before it
 * runs Atoll, so each server, and the container image, would carry it.
 *
 * @module
 */

/** The package, pinned; the lock file pins its dependencies. */
const PACKAGE = "npm:kubernetes-models@5.1.0";

/** Every kind the manifests may use, by `apiVersion kind`: the module of its model. */
export const MODELS: Readonly<Record<string, string>> = {
  "v1 ConfigMap": "v1/ConfigMap",
  "v1 Service": "v1/Service",
  "apps/v1 StatefulSet": "apps/v1/StatefulSet",
  "apps/v1 Deployment": "apps/v1/Deployment",
  "autoscaling/v2 HorizontalPodAutoscaler": "autoscaling/v2/HorizontalPodAutoscaler",
};

type Model = new (data: unknown) => { validate(): void };

/** What is wrong with `object` for the Kubernetes API; null when nothing. */
export async function schemaProblem(object: unknown): Promise<string | null> {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    return `expected a Kubernetes object, got ${JSON.stringify(object)}`;
  }
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  const key = `${apiVersion} ${kind}`;
  const path = Object.hasOwn(MODELS, key) ? MODELS[key] : undefined;
  if (path === undefined) return `no schema for ${key}; add its model to MODELS`;
  const module: Record<string, Model> = await import(`${PACKAGE}/${path}`);
  const model = module[String(kind)];
  if (model === undefined) return `${PACKAGE}/${path} has no ${kind}`;
  try {
    new model(object).validate();
    return null;
  } catch (error) {
    return `${key} does not validate: ${error instanceof Error ? error.message : error}`;
  }
}

if (import.meta.main) {
  const [file] = Deno.args;
  if (file === undefined) throw new TypeError("Usage: kubernetes_schemas.ts OBJECTS.json");
  const objects: unknown = JSON.parse(await Deno.readTextFile(file));
  if (!Array.isArray(objects)) throw new TypeError(`${file}: expected a JSON array`);
  const problems: (string | null)[] = [];
  for (const object of objects) problems.push(await schemaProblem(object));
  console.log(JSON.stringify(problems));
}
