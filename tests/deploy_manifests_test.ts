/**
 * The deployment examples in deploy/ against what Kubernetes and Atoll
 * accept, so that they cannot drift from either:
 *
 * - every document in deploy/kubernetes validates against the Kubernetes API
 *   schemas that the npm package `kubernetes-models` compiles, in a process
 *   of its own (tests/support/kubernetes_schemas.ts says why); a kind it has
 *   no model for fails;
 * - the objects refer to each other consistently: Service selectors and
 *   ports, mounted ConfigMaps, the StatefulSet's Service, the autoscaler's
 *   target, probe ports, the `--config` path, the grace period against
 *   `--shutdown-timeout`, the memory limit against `--max-connections`, the
 *   edges' `source` against the origin's Service, and each TCP container
 *   port against `--http-listen` and `--media-listen`;
 * - Atoll's own parsers accept each container's arguments
 *   (`parseCommandLine`), each embedded `atoll.yaml` (`parseConfig`), and the
 *   `Host` headers of the probes, of Prometheus (`hostRefusal`) and of the
 *   clients of each Service in front of a media port (`isAllowedHost`);
 * - the same for deploy/two-hosts: both `atoll.yaml` and the systemd unit's
 *   command line, its media port included.
 *
 * The schemas allow fields they do not know (as `kubectl apply
 * --validate=false` would), so a misspelt field name is caught only where a
 * check below reads that field. Nothing here talks to a cluster.
 */

import assert from "node:assert/strict";
// The same specifier as src/config/config_file.ts, so the same locked version.
// deno-lint-ignore no-import-prefix
import { parseAllDocuments } from "npm:yaml@^2";
import { parseCommandLine, UsageError } from "../src/config/cli.ts";
import { type AtollConfig, parseConfig } from "../src/config/config_file.ts";
import type { ServerOptions } from "../src/config/options.ts";
import { hostRefusal } from "../src/server/api.ts";
import { isAllowedHost, LOOPBACK_HOSTS } from "../src/http/request.ts";
import { parseSrtUrl } from "../src/protocol/srt_url.ts";
import { parseStreamId } from "../src/protocol/stream_id.ts";
import { runDeno } from "./support/mod.ts";

const KUBERNETES_DIR = new URL("../deploy/kubernetes/", import.meta.url);
const TWO_HOSTS_DIR = new URL("../deploy/two-hosts/", import.meta.url);
const SCHEMAS = new URL("./support/kubernetes_schemas.ts", import.meta.url).pathname;
const SCHEMAS_LOCK = new URL("./support/kubernetes_schemas.lock", import.meta.url).pathname;

/** The first run on a machine downloads the schemas' npm packages (about 25 MB). */
const SCHEMAS_TIMEOUT_MS = 180_000;

// The parts of Kubernetes objects that the checks read; the schemas check the rest.
type Labels = Record<string, string>;
interface ObjectMeta {
  name?: string;
  labels?: Labels;
  annotations?: Labels;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    httpHeaders?: { name: string; value: string }[];
  };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { limits?: Record<string, string | number> };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
interface PodTemplate {
  metadata?: ObjectMeta;
  spec?: {
    containers: Container[];
    volumes?: {
      name: string;
      configMap?: { name: string; items?: { key: string; path: string }[] };
    }[];
    terminationGracePeriodSeconds?: number;
  };
}
interface WorkloadOf<K extends string> {
  apiVersion: string;
  kind: K;
  metadata?: ObjectMeta;
  spec?: {
    replicas?: number;
    serviceName?: string;
    selector: { matchLabels?: Labels };
    template: PodTemplate;
  };
}
type StatefulSet = WorkloadOf<"StatefulSet">;
type Deployment = WorkloadOf<"Deployment">;
type Workload = StatefulSet | Deployment;
interface ConfigMap {
  apiVersion: string;
  kind: "ConfigMap";
  metadata?: ObjectMeta;
  data?: Record<string, string>;
}
interface Service {
  apiVersion: string;
  kind: "Service";
  metadata?: ObjectMeta;
  spec?: {
    type?: string;
    selector?: Labels;
    clusterIP?: string;
    ports?: { port: number; protocol?: string; targetPort?: number | string }[];
  };
}
interface Autoscaler {
  apiVersion: string;
  kind: "HorizontalPodAutoscaler";
  metadata?: ObjectMeta;
  spec?: { scaleTargetRef: { apiVersion?: string; kind: string; name: string } };
}
type KubeObject = ConfigMap | Service | Workload | Autoscaler;
const KINDS: readonly string[] = [
  "ConfigMap",
  "Service",
  "StatefulSet",
  "Deployment",
  "HorizontalPodAutoscaler",
];

/** One document of a manifest file. */
interface Manifest {
  /** The file and the document's index in it, for messages. */
  where: string;
  object: KubeObject;
}

/**
 * Sample values for the downward API fields that containers put in their
 * environment, as the kubelet would fill them in.
 */
const SAMPLE_FIELDS: Readonly<Record<string, string>> = {
  "status.podIP": "10.1.2.3",
  "metadata.name": "atoll-edge-7d9f8-abcde",
  "metadata.namespace": "atoll",
};

/** A stream a viewer asks an edge for, to see what its `source` would pull. */
const SAMPLE_STREAM = "live/cam1";

/**
 * What one connection costs in memory, as the limits must allow for it
 * (BENCHMARKS.md: 15-16 MB of private memory for a connected child at up to
 * 10 Mbit/s), and an idle prestarted child (about 13 MB).
 */
const CONNECTION_BYTES = 16 * 1024 * 1024;
const IDLE_CHILD_BYTES = 13 * 1024 * 1024;

/**
 * The annotation with which ExternalDNS publishes a Service's host names
 * (comma-separated): for a Service outside the cluster, the names its
 * clients send as `Host`.
 */
const EXTERNAL_DNS_HOSTNAME = "external-dns.alpha.kubernetes.io/hostname";

/** How much longer than `--shutdown-timeout` the grace period must be, for Atoll's own exit. */
const SHUTDOWN_MARGIN_MS = 5000;

/**
 * What is wrong with each object for the Kubernetes API (null: nothing), as
 * tests/support/kubernetes_schemas.ts finds it.
 */
async function schemaProblems(objects: readonly unknown[]): Promise<(string | null)[]> {
  const dir = await Deno.makeTempDir({ prefix: "atoll_manifests_" });
  try {
    const file = `${dir}/objects.json`;
    await Deno.writeTextFile(file, JSON.stringify(objects));
    const result = await runDeno(
      ["--no-config", `--lock=${SCHEMAS_LOCK}`, "--frozen", "--quiet", SCHEMAS, file],
      { timeoutMs: SCHEMAS_TIMEOUT_MS },
    );
    assert.equal(result.code, 0, `kubernetes_schemas.ts failed:\n${result.stderr}`);
    const problems: (string | null)[] = JSON.parse(result.stdout);
    assert.equal(problems.length, objects.length);
    return problems;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Parses YAML as Kubernetes reads it: YAML 1.1 scalars (`on` and `yes` are
 * true there), every document of a file, duplicate keys an error.
 */
function parseKubernetesYaml(text: string, source: string): unknown[] {
  const documents = parseAllDocuments(text, { version: "1.1" });
  if (!Array.isArray(documents)) return [];
  return documents.flatMap((document, index) => {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) {
      throw new SyntaxError(`${source}, document ${index}: ${problems[0]?.message}`);
    }
    const value: unknown = document.toJS();
    return value === null ? [] : [value];
  });
}

/** Every document of every file in deploy/kubernetes, whatever its kind. */
async function loadDocuments(): Promise<{ where: string; document: unknown }[]> {
  const documents: { where: string; document: unknown }[] = [];
  const names: string[] = [];
  for await (const entry of Deno.readDir(KUBERNETES_DIR)) {
    if (entry.isFile && /\.(ya?ml|json)$/.test(entry.name)) names.push(entry.name);
  }
  for (const name of names.sort()) {
    const text = await Deno.readTextFile(new URL(name, KUBERNETES_DIR));
    parseKubernetesYaml(text, name).forEach((document, index) => {
      documents.push({ where: `${name}[${index}]`, document });
    });
  }
  return documents;
}

/** The documents of deploy/kubernetes of the kinds the checks below know. */
async function loadManifests(): Promise<Manifest[]> {
  // Any other kind fails the schema test; the checks below need not know it.
  return (await loadDocuments()).flatMap(({ where, document }) => {
    const kind = (document as { kind?: unknown } | null)?.kind;
    return typeof kind === "string" && KINDS.includes(kind)
      ? [{ where, object: document as KubeObject }]
      : [];
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nameOf(object: KubeObject): string {
  return object.metadata?.name ?? "(unnamed)";
}

function isWorkload(object: KubeObject): object is Workload {
  return object.kind === "StatefulSet" || object.kind === "Deployment";
}

function podTemplate(workload: Workload): PodTemplate {
  return workload.spec?.template ?? {};
}

function containersOf(workload: Workload): Container[] {
  return podTemplate(workload).spec?.containers ?? [];
}

/** Whether every label of `selector` is among `labels` (and the selector selects something). */
function selects(selector: Record<string, string> | undefined, labels: object | undefined) {
  const entries = Object.entries(selector ?? {});
  const have = (labels ?? {}) as Record<string, string>;
  return entries.length > 0 && entries.every(([key, value]) => have[key] === value);
}

/** A container port by name or number, as a Service's `targetPort` or a probe's `port` names it. */
function findPort(container: Container, port: number | string | undefined, protocol: string) {
  return (container.ports ?? []).find((candidate) =>
    (candidate.protocol ?? "TCP") === protocol &&
    (typeof port === "string" ? candidate.name === port : candidate.containerPort === port)
  );
}

/** Kubernetes' `$(NAME)` expansion of a container's arguments from its own environment. */
function expandArgs(container: Container): { args: string[]; problems: string[] } {
  const values = new Map<string, string>();
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.value !== undefined) values.set(variable.name, variable.value);
    else if (field !== undefined && Object.hasOwn(SAMPLE_FIELDS, field)) {
      values.set(variable.name, SAMPLE_FIELDS[field] as string);
    }
  }
  const problems: string[] = [];
  const args = (container.args ?? []).map((arg) =>
    arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) => {
      if (name === undefined) return "$";
      const value = values.get(name);
      if (value !== undefined) return value;
      problems.push(`argument ${JSON.stringify(arg)}: $(${name}) has no known value`);
      return whole;
    })
  );
  return { args, problems };
}

/** The container's environment as Atoll reads it: literal values only (Secrets are unknown here). */
function literalEnvironment(container: Container) {
  const values = new Map<string, string>();
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) values.set(variable.name, variable.value);
  }
  return { get: (name: string) => values.get(name) };
}

/** What one container of a workload runs with, once Atoll's own parsers accepted it. */
interface ParsedContainer {
  workload: Workload;
  container: Container;
  options: ServerOptions;
  /** Where the `--config` file comes from (its ConfigMap and key), and what Atoll makes of it. */
  config: { source: string; parsed: AtollConfig } | undefined;
}

/** The ConfigMap key a container's `--config` path reads, through its volume mounts. */
function mountedConfig(
  workload: Workload,
  container: Container,
  path: string,
  configMaps: readonly ConfigMap[],
): { configMap: ConfigMap; key: string } | string {
  const mount = (container.volumeMounts ?? [])
    .filter((candidate) =>
      candidate.subPath === undefined
        ? path.startsWith(`${candidate.mountPath.replace(/\/$/, "")}/`)
        : path === candidate.mountPath
    )
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (mount === undefined) return `--config ${path} is under no volume mount`;
  const volume = (podTemplate(workload).spec?.volumes ?? []).find((v) => v.name === mount.name);
  const source = volume?.configMap;
  if (source === undefined) return `--config ${path}: volume ${mount.name} is not a ConfigMap`;
  const configMap = configMaps.find((candidate) => candidate.metadata?.name === source.name);
  if (configMap === undefined) return `--config ${path}: no ConfigMap ${source.name}`;
  const relative = mount.subPath ?? path.slice(mount.mountPath.replace(/\/$/, "").length + 1);
  const item = source.items?.find((candidate) => candidate.path === relative);
  const key = source.items === undefined ? relative : item?.key;
  if (key === undefined || configMap.data?.[key] === undefined) {
    return `--config ${path}: ConfigMap ${source.name} has no key for ${relative}`;
  }
  return { configMap, key };
}

/** Runs each container's arguments and mounted `atoll.yaml` through Atoll's own parsers. */
function parseContainers(
  manifests: readonly Manifest[],
): { containers: ParsedContainer[]; problems: string[] } {
  const objects = manifests.map((manifest) => manifest.object);
  const configMaps = objects.filter((o): o is ConfigMap => o.kind === "ConfigMap");
  const containers: ParsedContainer[] = [];
  const problems: string[] = [];
  for (const workload of objects.filter(isWorkload)) {
    for (const container of containersOf(workload)) {
      const where = `${workload.kind} ${nameOf(workload)}, container ${container.name}`;
      const expanded = expandArgs(container);
      problems.push(...expanded.problems.map((problem) => `${where}: ${problem}`));
      let options: ServerOptions;
      try {
        const line = parseCommandLine(expanded.args, "test", literalEnvironment(container));
        if (line.kind !== "serve") {
          problems.push(`${where}: the arguments ask for ${line.kind}, not to serve`);
          continue;
        }
        options = line.options;
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        problems.push(`${where}: Atoll refuses the arguments: ${error.message}`);
        continue;
      }
      let config: ParsedContainer["config"];
      if (options.configPath === undefined) {
        problems.push(`${where}: no --config`);
      } else {
        const found = mountedConfig(workload, container, options.configPath, configMaps);
        if (typeof found === "string") {
          problems.push(`${where}: ${found}`);
        } else {
          const source = `ConfigMap ${nameOf(found.configMap)}, key ${found.key}`;
          const text = found.configMap.data?.[found.key] ?? "";
          try {
            const format = found.key.endsWith(".json") ? "json" : "yaml";
            config = { source, parsed: parseConfig(text, format, source) };
          } catch (error) {
            problems.push(`${where}: ${messageOf(error)}`);
          }
        }
      }
      containers.push({ workload, container, options, config });
    }
  }
  return { containers, problems };
}

/** The Service a relay's host names: `NAME` or `NAME.NAMESPACE[.svc[.cluster.local]]`. */
function serviceNamed(services: readonly Service[], hostname: string): Service | undefined {
  const [name] = hostname.split(".");
  return services.find((service) => service.metadata?.name === name);
}

/** Memory quantities as the manifests write them: plain bytes, or k/M/G/T and Ki/Mi/Gi/Ti. */
function quantityBytes(quantity: string | number): number {
  if (typeof quantity === "number") return quantity;
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (match === null) throw new TypeError(`Cannot read memory quantity ${quantity}`);
  const factors: Record<string, number> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(match[1]) * (factors[match[2] ?? ""] ?? NaN);
}

/** The `Host` header a probe sends: its own Host header, else the pod's IP and port. */
function probeHost(probe: Probe, port: number): string {
  const header = probe.httpGet?.httpHeaders?.find((h) => h.name.toLowerCase() === "host");
  return header?.value ?? `${SAMPLE_FIELDS["status.podIP"]}:${port}`;
}

function refusesHost(options: ServerOptions, host: string): boolean {
  const request = new Request("http://atoll.invalid/healthz", { headers: { host } });
  return hostRefusal(request, options.httpListen.hostname, options.httpAllowedHosts) !== undefined;
}

/**
 * Everything that must agree between the objects, and with what Atoll was
 * told on its command line; one line per problem, none when all is well.
 */
function crossReferenceProblems(manifests: readonly Manifest[]): string[] {
  const objects = manifests.map((manifest) => manifest.object);
  const services = objects.filter((o): o is Service => o.kind === "Service");
  const { containers, problems } = parseContainers(manifests);
  return [
    ...problems,
    ...objectProblems(objects),
    ...containers.flatMap((container) => containerProblems(container, services)),
    ...containers.flatMap((container) => mediaHostProblems(container, services)),
  ];
}

/** Names that must refer to objects that exist, and selectors that must select them. */
function objectProblems(objects: readonly KubeObject[]): string[] {
  const services = objects.filter((o): o is Service => o.kind === "Service");
  const configMaps = objects.filter((o): o is ConfigMap => o.kind === "ConfigMap");
  const workloads = objects.filter(isWorkload);
  const autoscalers = objects.filter((o): o is Autoscaler => o.kind === "HorizontalPodAutoscaler");
  const problems: string[] = [];

  const seen = new Set<string>();
  for (const object of objects) {
    const key = `${object.kind} ${nameOf(object)}`;
    if (seen.has(key)) problems.push(`${key} is defined twice`);
    seen.add(key);
  }

  for (const workload of workloads) {
    const where = `${workload.kind} ${nameOf(workload)}`;
    const labels = podTemplate(workload).metadata?.labels;
    if (!selects(workload.spec?.selector.matchLabels, labels)) {
      problems.push(`${where}: its selector does not match its own pod labels`);
    }
    for (const volume of podTemplate(workload).spec?.volumes ?? []) {
      const name = volume.configMap?.name;
      if (name !== undefined && !configMaps.some((c) => c.metadata?.name === name)) {
        problems.push(
          `${where}: volume ${volume.name} mounts a ConfigMap ${name} that is not here`,
        );
      }
    }
  }

  for (const configMap of configMaps) {
    const used = workloads.some((workload) =>
      (podTemplate(workload).spec?.volumes ?? []).some((v) =>
        v.configMap?.name === configMap.metadata?.name
      )
    );
    if (!used) problems.push(`ConfigMap ${nameOf(configMap)} is mounted by no workload`);
  }

  for (const service of services) {
    const where = `Service ${nameOf(service)}`;
    const selected = workloads.filter((workload) =>
      selects(service.spec?.selector, podTemplate(workload).metadata?.labels)
    );
    if (selected.length !== 1) {
      problems.push(`${where}: its selector matches ${selected.length} workloads, not 1`);
      continue;
    }
    const [workload] = selected as [Workload];
    for (const port of service.spec?.ports ?? []) {
      const protocol = port.protocol ?? "TCP";
      const target = port.targetPort ?? port.port;
      const found = containersOf(workload).some((c) => findPort(c, target, protocol));
      if (!found) {
        problems.push(
          `${where}: port ${port.port}/${protocol} targets ${target}, which no container of ` +
            `${workload.kind} ${nameOf(workload)} has`,
        );
      }
    }
  }

  for (const workload of workloads) {
    if (workload.kind !== "StatefulSet") continue;
    const name = workload.spec?.serviceName;
    const service = services.find((s) => s.metadata?.name === name);
    if (service?.spec?.clusterIP !== "None") {
      problems.push(`StatefulSet ${nameOf(workload)}: serviceName ${name} is no headless Service`);
    } else if (!selects(service.spec.selector, podTemplate(workload).metadata?.labels)) {
      problems.push(`StatefulSet ${nameOf(workload)}: its Service ${name} does not select it`);
    }
  }

  for (const autoscaler of autoscalers) {
    const where = `HorizontalPodAutoscaler ${nameOf(autoscaler)}`;
    const target = autoscaler.spec?.scaleTargetRef;
    const workload = workloads.find((w) =>
      w.kind === target?.kind && w.apiVersion === target.apiVersion &&
      w.metadata?.name === target.name
    );
    if (workload === undefined) {
      problems.push(`${where}: scaleTargetRef ${target?.kind} ${target?.name} is not here`);
    } else if (workload.spec?.replicas !== undefined) {
      problems.push(
        `${where}: ${workload.kind} ${nameOf(workload)} sets replicas, which every apply would ` +
          "reset under the autoscaler",
      );
    }
  }
  return problems;
}

/** What one container must agree with: its own ports, probes, grace period, limits and source. */
function containerProblems(parsed: ParsedContainer, services: readonly Service[]): string[] {
  const { workload, container, options, config } = parsed;
  const problems: string[] = [];
  const where = `${workload.kind} ${nameOf(workload)}, container ${container.name}`;
  const pod = podTemplate(workload);
  if (findPort(container, options.srtListen.port, "UDP") === undefined) {
    problems.push(`${where}: no UDP container port ${options.srtListen.port} (--srt-listen)`);
  }
  if (findPort(container, options.httpListen.port, "TCP") === undefined) {
    problems.push(`${where}: no TCP container port ${options.httpListen.port} (--http-listen)`);
  }
  const media = options.mediaListen;
  if (media !== false && !isLoopback(media.hostname)) {
    if (findPort(container, media.port, "TCP") === undefined) {
      problems.push(`${where}: no TCP container port ${media.port} (--media-listen)`);
    }
  }
  // A TCP port that Atoll does not listen on beyond loopback leads nowhere: a Service sending to
  // it, or a probe asking it, would find it closed.
  const listening = [options.httpListen, media]
    .flatMap((address) => address === false || isLoopback(address.hostname) ? [] : [address.port]);
  for (const port of container.ports ?? []) {
    if ((port.protocol ?? "TCP") !== "TCP" || listening.includes(port.containerPort)) continue;
    problems.push(
      `${where}: container port ${port.name ?? port.containerPort} (${port.containerPort}/TCP) ` +
        "is neither --http-listen's nor --media-listen's beyond loopback",
    );
  }

  const probes = {
    readinessProbe: container.readinessProbe,
    livenessProbe: container.livenessProbe,
  };
  if (probes.readinessProbe === undefined) problems.push(`${where}: no readiness probe`);
  for (const [kind, probe] of Object.entries(probes)) {
    if (probe === undefined) continue;
    const get = probe.httpGet;
    if (get?.path !== "/healthz") {
      problems.push(`${where}: ${kind} asks ${get?.path}, not /healthz`);
    }
    const port = get === undefined ? undefined : findPort(container, get.port, "TCP");
    if (port?.containerPort !== options.httpListen.port) {
      problems.push(`${where}: ${kind} port ${get?.port} is not --http-listen's`);
    }
    const host = probeHost(probe, options.httpListen.port);
    if (refusesHost(options, host)) {
      problems.push(`${where}: ${kind} sends Host ${host}, which Atoll answers with 421`);
    }
  }

  const annotations = pod.metadata?.annotations ?? {};
  if (annotations["prometheus.io/scrape"] === "true") {
    if (annotations["prometheus.io/port"] !== String(options.httpListen.port)) {
      problems.push(`${where}: prometheus.io/port is not --http-listen's port`);
    }
    // Prometheus names its target, the pod's IP and port, in the Host header.
    const host = `${SAMPLE_FIELDS["status.podIP"]}:${options.httpListen.port}`;
    if (refusesHost(options, host)) {
      problems.push(`${where}: Prometheus's Host ${host} would get 421`);
    }
  }

  const graceMs = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
  if (graceMs < options.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS) {
    problems.push(
      `${where}: terminationGracePeriodSeconds (${graceMs} ms) leaves --shutdown-timeout ` +
        `(${options.shutdownTimeoutMs} ms) less than ${SHUTDOWN_MARGIN_MS} ms to spare`,
    );
  }

  const limit = container.resources?.limits?.memory;
  const needed = options.maxConnections * CONNECTION_BYTES + options.poolMax * IDLE_CHILD_BYTES;
  if (limit === undefined) {
    problems.push(`${where}: no memory limit`);
  } else if (quantityBytes(limit) < needed) {
    problems.push(
      `${where}: memory limit ${limit} holds fewer than --max-connections ` +
        `(${options.maxConnections}) connections and --pool-max idle children`,
    );
  }

  for (const source of sourcesOf(config?.parsed)) {
    const url = parseSrtUrl(source, { name: SAMPLE_STREAM });
    const service = serviceNamed(services, url.hostname);
    if (service === undefined) {
      // An address outside the cluster is allowed; a name that looks like a Service is not.
      if (!url.hostname.includes(".")) {
        problems.push(`${where}: source host ${url.hostname} is no Service here`);
      }
      continue;
    }
    const port = service.spec?.ports?.find((p) => p.port === url.port);
    if (port === undefined || port.protocol !== "UDP") {
      problems.push(`${where}: Service ${nameOf(service)} has no UDP port ${url.port}`);
    }
    if (selects(service.spec?.selector, pod.metadata?.labels)) {
      problems.push(`${where}: pulls from Service ${nameOf(service)}, which selects itself`);
    }
    const streamId = parseStreamId(url.streamId ?? "");
    if (streamId.mode !== "play" || streamId.name !== SAMPLE_STREAM) {
      problems.push(`${where}: source asks to ${streamId.mode} ${streamId.name}`);
    }
  }
  return problems;
}

/** Whether Atoll listening on `hostname` is reachable only from inside the pod. */
function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.includes(hostname) || hostname.startsWith("127.");
}

/**
 * The host names a Service's clients send as `Host`: those ExternalDNS
 * publishes for it when it is reached from outside the cluster, else its
 * own name (clients in its namespace). Undefined: a Service reached from
 * outside that names none, so nobody can tell what Atoll must allow.
 */
function clientHostNames(service: Service): string[] | undefined {
  const published = service.metadata?.annotations?.[EXTERNAL_DNS_HOSTNAME];
  if (published !== undefined) {
    return published.split(",").map((name) => name.trim()).filter((name) => name !== "");
  }
  const type = service.spec?.type ?? "ClusterIP";
  return type === "ClusterIP" ? [nameOf(service)] : undefined;
}

/**
 * The media port answers only `Host` names it knows (the API's check,
 * `--http-allowed-hosts` shared): every Service in front of it must be
 * reached by such a name.
 */
function mediaHostProblems(parsed: ParsedContainer, services: readonly Service[]): string[] {
  const { workload, container, options } = parsed;
  const media = options.mediaListen;
  if (media === false) return [];
  const problems: string[] = [];
  const labels = podTemplate(workload).metadata?.labels;
  for (const service of services) {
    if (!selects(service.spec?.selector, labels)) continue;
    const toMedia = (service.spec?.ports ?? []).some((port) =>
      findPort(container, port.targetPort ?? port.port, port.protocol ?? "TCP")?.containerPort ===
        media.port
    );
    if (!toMedia) continue;
    const where = `Service ${nameOf(service)}`;
    const names = clientHostNames(service);
    if (names === undefined || names.length === 0) {
      problems.push(
        `${where}: sends to the media port of ${workload.kind} ${nameOf(workload)} from ` +
          `outside the cluster, but names no host (${EXTERNAL_DNS_HOSTNAME})`,
      );
      continue;
    }
    for (const name of names) {
      if (!isAllowedHost(name, media.hostname, options.httpAllowedHosts)) {
        problems.push(
          `${where}: its clients' Host ${name} would get 421 from the media port of ` +
            `${workload.kind} ${nameOf(workload)} (--http-allowed-hosts)`,
        );
      }
    }
  }
  return problems;
}

/** Every `source` URL of a config: its defaults' and its entries'. */
function sourcesOf(config: AtollConfig | undefined): string[] {
  if (config === undefined) return [];
  return [config.streamDefaults, ...config.streams.map((entry) => entry.rules)]
    .flatMap((rules) => rules.source === undefined ? [] : [rules.source]);
}

function objectNamed<K extends KubeObject["kind"]>(
  manifests: readonly Manifest[],
  kind: K,
  name: string,
): Extract<KubeObject, { kind: K }> {
  const found = manifests.find((m) => m.object.kind === kind && m.object.metadata?.name === name);
  assert.ok(found !== undefined, `${kind} ${name} is in deploy/kubernetes`);
  return found.object as Extract<KubeObject, { kind: K }>;
}

Deno.test("deploy/kubernetes: every document validates against the Kubernetes API schemas", async () => {
  const documents = await loadDocuments();
  const problems = await schemaProblems(documents.map(({ document }) => document));
  assert.deepEqual(
    documents.map(({ where }, index) => `${where}: ${problems[index] ?? "valid"}`),
    documents.map(({ where }) => `${where}: valid`),
  );
  const kinds = (await loadManifests()).map(({ object }) => `${object.kind} ${nameOf(object)}`);
  assert.deepEqual(kinds.sort(), [
    "ConfigMap atoll-edge-config",
    "ConfigMap atoll-origin-config",
    "Deployment atoll-edge",
    "HorizontalPodAutoscaler atoll-edge",
    "Service atoll-edge",
    "Service atoll-edge-media",
    "Service atoll-origin",
    "Service atoll-origin-publish",
    "StatefulSet atoll-origin",
  ]);
});

Deno.test("deploy/kubernetes: the schema check rejects a wrong manifest and an unknown kind", async () => {
  const edge = objectNamed(await loadManifests(), "Deployment", "atoll-edge");
  const twoReplicas = structuredClone(edge) as unknown as { spec: { replicas: unknown } };
  twoReplicas.spec.replicas = "two";
  const unnamed = structuredClone(edge);
  delete (unnamed.spec?.template.spec?.containers[0] as { name?: string }).name;

  const problems = await schemaProblems([
    edge,
    twoReplicas,
    unnamed,
    // A kind without a model fails, whether Kubernetes has it or not.
    { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: "x" } },
    { apiVersion: "v1", kind: "Srvice", metadata: { name: "x" } },
    "just text",
  ]);
  assert.equal(problems[0], null, "the edge Deployment as it is");
  assert.match(
    String(problems[1]),
    /^apps\/v1 Deployment does not validate: .*spec\/replicas must be integer/,
  );
  assert.match(
    String(problems[2]),
    /^apps\/v1 Deployment does not validate: .*containers\/0 must have required property '?name'?/,
  );
  assert.equal(problems[3], "no schema for networking.k8s.io/v1 Ingress; add its model to MODELS");
  assert.equal(problems[4], "no schema for v1 Srvice; add its model to MODELS");
  assert.equal(problems[5], 'expected a Kubernetes object, got "just text"');
});

Deno.test("deploy/kubernetes: Services, ConfigMaps, probes, the autoscaler and Atoll's options agree", async () => {
  const manifests = await loadManifests();
  assert.deepEqual(crossReferenceProblems(manifests), []);

  // What the checks read is there: both workloads parsed, with their configs.
  const { containers } = parseContainers(manifests);
  assert.deepEqual(
    containers.map(({ workload, config }) => `${nameOf(workload)}: ${config?.source}`).sort(),
    [
      "atoll-edge: ConfigMap atoll-edge-config, key atoll.yaml",
      "atoll-origin: ConfigMap atoll-origin-config, key atoll.yaml",
    ],
  );
  const edge = containers.find(({ workload }) => nameOf(workload) === "atoll-edge");
  assert.deepEqual(sourcesOf(edge?.config?.parsed), [
    "srt://atoll-origin:9000?streamid=#!::r={name},m=request",
  ]);
  assert.equal(edge?.config?.parsed.streamDefaults.sourceMode, "on-demand");
  // HTTP viewers start pulls as SRT viewers do: no stream needs pulling always.
  assert.deepEqual(edge?.config?.parsed.streams, []);
  assert.deepEqual(edge?.options.httpAllowedHosts, [
    SAMPLE_FIELDS["status.podIP"],
    "media.example",
  ]);
  assert.deepEqual(edge?.options.mediaListen, { hostname: "0.0.0.0", port: 8081 });
  const origin = containers.find(({ workload }) => nameOf(workload) === "atoll-origin");
  assert.deepEqual(origin?.options.httpAllowedHosts, [
    SAMPLE_FIELDS["status.podIP"],
    "atoll-origin",
  ]);
  // The names whose Host the media ports were checked against.
  const services = manifests.flatMap(({ object }) => object.kind === "Service" ? [object] : []);
  assert.deepEqual(
    Object.fromEntries(services.map((service) => [nameOf(service), clientHostNames(service)])),
    {
      "atoll-edge": undefined,
      "atoll-edge-media": ["media.example"],
      "atoll-origin": ["atoll-origin"],
      "atoll-origin-publish": undefined,
    },
  );
});

Deno.test("deploy/kubernetes: the cross-reference checks catch what would break in a cluster", async () => {
  const manifests = await loadManifests();
  /** The problems once `change` has edited a copy of the object `kind name`. */
  const problemsAfter = <K extends KubeObject["kind"]>(
    kind: K,
    name: string,
    change: (object: Extract<KubeObject, { kind: K }>) => void,
  ) => {
    const copy = manifests.map((m) => ({ ...m, object: structuredClone(m.object) }));
    change(objectNamed(copy, kind, name));
    return crossReferenceProblems(copy);
  };
  const edgeContainer = (edge: Deployment) => edge.spec?.template.spec?.containers[0] as Container;

  assert.deepEqual(
    problemsAfter("Service", "atoll-edge", (s) => {
      s.spec!.selector = { "app.kubernetes.io/component": "egde" };
    }),
    ["Service atoll-edge: its selector matches 0 workloads, not 1"],
  );
  assert.deepEqual(
    problemsAfter("Service", "atoll-origin-publish", (s) => {
      s.spec!.ports![0]!.protocol = "TCP";
    }),
    [
      "Service atoll-origin-publish: port 9000/TCP targets srt, which no container of " +
      "StatefulSet atoll-origin has",
    ],
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      d.spec!.template.spec!.volumes![0]!.configMap!.name = "atoll-edge-konfig";
    }).join("\n"),
    /volume config mounts a ConfigMap atoll-edge-konfig that is not here/,
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      edgeContainer(d).readinessProbe!.httpGet!.port = 9000;
    }).join("\n"),
    /readinessProbe port 9000 is not --http-listen's/,
  );
  // The probes send Host: localhost; Prometheus, the pod's IP, allowed by --http-allowed-hosts.
  const withoutAllowedHosts = (container: Container) => {
    container.args = container.args!.filter((arg) => !arg.startsWith("--http-allowed-hosts"));
  };
  assert.deepEqual(
    problemsAfter("Deployment", "atoll-edge", (d) => withoutAllowedHosts(edgeContainer(d))),
    [
      "Deployment atoll-edge, container atoll: Prometheus's Host 10.1.2.3:8080 would get 421",
      "Service atoll-edge-media: its clients' Host media.example would get 421 from the media " +
      "port of Deployment atoll-edge (--http-allowed-hosts)",
    ],
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      withoutAllowedHosts(edgeContainer(d));
      delete edgeContainer(d).livenessProbe!.httpGet!.httpHeaders;
    }).join("\n"),
    /livenessProbe sends Host 10\.1\.2\.3:8080, which Atoll answers with 421/,
  );
  // The media port: its Services' host names must pass Atoll's Host check, and the container
  // port must be the one --media-listen opens beyond loopback.
  const setArg = (container: Container, flag: string, value: string) => {
    container.args = container.args!.map((arg) =>
      arg.startsWith(`${flag}=`) ? `${flag}=${value}` : arg
    );
  };
  assert.deepEqual(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      setArg(edgeContainer(d), "--http-allowed-hosts", "$(POD_IP)");
    }),
    [
      "Service atoll-edge-media: its clients' Host media.example would get 421 from the media " +
      "port of Deployment atoll-edge (--http-allowed-hosts)",
    ],
  );
  assert.deepEqual(
    problemsAfter("Service", "atoll-edge-media", (s) => {
      s.metadata!.annotations![EXTERNAL_DNS_HOSTNAME] = "watch.example.org";
    }),
    [
      "Service atoll-edge-media: its clients' Host watch.example.org would get 421 from the " +
      "media port of Deployment atoll-edge (--http-allowed-hosts)",
    ],
  );
  assert.deepEqual(
    problemsAfter("Service", "atoll-edge-media", (s) => {
      delete s.metadata!.annotations;
    }),
    [
      "Service atoll-edge-media: sends to the media port of Deployment atoll-edge from outside " +
      `the cluster, but names no host (${EXTERNAL_DNS_HOSTNAME})`,
    ],
  );
  assert.deepEqual(
    problemsAfter("StatefulSet", "atoll-origin", (s) => {
      setArg(s.spec!.template.spec!.containers[0]!, "--http-allowed-hosts", "$(POD_IP)");
    }),
    [
      "Service atoll-origin: its clients' Host atoll-origin would get 421 from the media port " +
      "of StatefulSet atoll-origin (--http-allowed-hosts)",
    ],
  );
  assert.deepEqual(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      setArg(edgeContainer(d), "--media-listen", "0.0.0.0:8082");
    }),
    [
      "Deployment atoll-edge, container atoll: no TCP container port 8082 (--media-listen)",
      "Deployment atoll-edge, container atoll: container port media (8081/TCP) is neither " +
      "--http-listen's nor --media-listen's beyond loopback",
    ],
  );
  assert.deepEqual(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      setArg(edgeContainer(d), "--media-listen", "127.0.0.1:8081");
    }),
    [
      "Deployment atoll-edge, container atoll: container port media (8081/TCP) is neither " +
      "--http-listen's nor --media-listen's beyond loopback",
    ],
  );
  assert.deepEqual(
    problemsAfter("Service", "atoll-edge-media", (s) => {
      s.spec!.ports![0]!.targetPort = "madia";
    }),
    [
      "Service atoll-edge-media: port 80/TCP targets madia, which no container of " +
      "Deployment atoll-edge has",
    ],
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      d.spec!.replicas = 3;
    }).join("\n"),
    /sets replicas, which every apply would reset/,
  );
  assert.match(
    problemsAfter("HorizontalPodAutoscaler", "atoll-edge", (h) => {
      h.spec!.scaleTargetRef.name = "atoll-edges";
    }).join("\n"),
    /scaleTargetRef Deployment atoll-edges is not here/,
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      edgeContainer(d).args!.push("--max-conections=10");
    }).join("\n"),
    /Atoll refuses the arguments: Unknown option "--max-conections"/,
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      edgeContainer(d).args!.push("--config=/etc/atoll.yaml");
    }).join("\n"),
    /--config \/etc\/atoll.yaml is under no volume mount/,
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      edgeContainer(d).args!.push("--shutdown-timeout=30000");
    }).join("\n"),
    /terminationGracePeriodSeconds \(30000 ms\) leaves --shutdown-timeout/,
  );
  assert.match(
    problemsAfter("Deployment", "atoll-edge", (d) => {
      edgeContainer(d).args!.push("--max-connections=1000");
    }).join("\n"),
    /memory limit 4Gi holds fewer than --max-connections \(1000\)/,
  );
  assert.match(
    problemsAfter("ConfigMap", "atoll-edge-config", (c) => {
      c.data!["atoll.yaml"] += "graceMS: 1000\n";
    }).join("\n"),
    /Invalid config ConfigMap atoll-edge-config, key atoll.yaml: .*graceMS/,
  );
  assert.match(
    problemsAfter("ConfigMap", "atoll-edge-config", (c) => {
      c.data!["atoll.yaml"] = c.data!["atoll.yaml"]!.replace("atoll-origin:", "atoll-orign:");
    }).join("\n"),
    /source host atoll-orign is no Service here/,
  );
});

Deno.test("deploy/kubernetes: manifests are read as Kubernetes reads YAML", () => {
  // YAML 1.1, as Kubernetes reads it: an unquoted `on` is a boolean, so an
  // annotation written so would not be the string it looks like.
  assert.deepEqual(parseKubernetesYaml("a: on\n---\n---\nb: '1'\n", "test"), [
    { a: true },
    { b: "1" },
  ]);
  assert.throws(() => parseKubernetesYaml("a: 1\na: 2\n", "test"), /test, document 0: /);
});

Deno.test("deploy/two-hosts: Atoll accepts both atoll.yaml and the systemd unit's command line", async () => {
  const read = (name: string) => Deno.readTextFile(new URL(name, TWO_HOSTS_DIR));
  const origin = parseConfig(await read("origin.yaml"), "yaml", "origin.yaml");
  const edge = parseConfig(await read("edge.yaml"), "yaml", "edge.yaml");
  assert.deepEqual(sourcesOf(origin), [], "the origin pulls nothing");
  const [source] = sourcesOf(edge);
  assert.ok(source !== undefined, "the edge pulls");
  const url = parseSrtUrl(source, { name: SAMPLE_STREAM });
  assert.equal(url.hostname, "origin.example");
  const { mode, name } = parseStreamId(url.streamId ?? "");
  assert.deepEqual({ mode, name }, { mode: "play", name: SAMPLE_STREAM });
  // HTTP viewers start pulls as SRT viewers do: every stream on demand.
  assert.equal(edge.streamDefaults.sourceMode, "on-demand");
  assert.deepEqual(edge.streams, []);

  const unit = await read("atoll.service");
  const setting = (key: string) =>
    unit.split("\n").find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1);
  const words = setting("ExecStart")?.split(/\s+/) ?? [];
  const main = words.findIndex((word) => word.endsWith("/main.ts"));
  assert.ok(main !== -1, "ExecStart runs main.ts");
  const args = words.slice(main + 1);
  const line = parseCommandLine(args, "test");
  assert.equal(line.kind, "serve");
  if (line.kind !== "serve") return;
  assert.equal(line.options.configPath, "/etc/atoll/atoll.yaml");
  assert.ok(line.options.stateDir?.startsWith("/run/atoll/"), "the state dir is under /run/atoll");
  assert.equal(setting("RuntimeDirectory"), "atoll");
  assert.equal(setting("KillMode"), "process", "a crashed main process leaves its children");
  // HTTP viewers reach the edge's media port by its name (README.md there).
  const media = line.options.mediaListen;
  assert.ok(
    media !== false && !isLoopback(media.hostname),
    "the media port listens beyond loopback",
  );
  for (const host of ["edge.example", "origin.example"]) {
    assert.ok(isAllowedHost(host, media.hostname, line.options.httpAllowedHosts), `Host ${host}`);
  }
  assert.ok(isLoopback(line.options.httpListen.hostname), "the API stays on loopback");
  assert.ok(
    Number(setting("TimeoutStopSec")) * 1000 >= line.options.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS,
    "systemd waits for the clean close",
  );
});
