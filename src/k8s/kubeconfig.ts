// Kubeconfig files → a ClusterConnection. Supports what a node or a CI job usually has: a cluster with
// its CA (file or data, or insecure-skip-tls-verify) and a user with a token (inline or file) or a client
// certificate (file or data). Credential plugins (exec, auth-provider) need programs and cloud SDKs we do
// not run, so they are refused with a message that says what to use instead.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ClusterConnection, ClusterCredentials, KubeconfigError } from './connection';

type Fields = Record<string, unknown>;

interface Named {
  name: string;
  value: Fields;
  /** The file the entry came from: relative paths in it are relative to that file's folder. */
  file: string;
}

/** The entries of one or more kubeconfig files, merged as kubectl merges $KUBECONFIG: first one wins. */
export interface KubeconfigEntries {
  files: string[];
  currentContext?: string;
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
}

function isFields(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function namedList(doc: Fields, key: string, inner: string, file: string, into: Map<string, Named>): void {
  const list = doc[key];
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new KubeconfigError(`kubeconfig ${file}: '${key}' is not a list`);
  for (const entry of list) {
    if (!isFields(entry) || typeof entry.name !== 'string') throw new KubeconfigError(`kubeconfig ${file}: an entry of '${key}' has no name`);
    if (!into.has(entry.name)) into.set(entry.name, { name: entry.name, value: isFields(entry[inner]) ? entry[inner] : {}, file });
  }
}

/** Parses kubeconfig text (YAML or JSON) and adds its entries to `into` (earlier files win). */
export function addKubeconfigText(into: KubeconfigEntries, text: string, file: string): KubeconfigEntries {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isFields(doc)) throw new KubeconfigError(`kubeconfig ${file} is not a kubeconfig (expected a mapping with clusters, users, contexts)`);
  into.files.push(file);
  into.currentContext ??= str(doc['current-context']);
  namedList(doc, 'clusters', 'cluster', file, into.clusters);
  namedList(doc, 'users', 'user', file, into.users);
  namedList(doc, 'contexts', 'context', file, into.contexts);
  return into;
}

export function emptyKubeconfig(): KubeconfigEntries {
  return { files: [], clusters: new Map(), users: new Map(), contexts: new Map() };
}

/** Reads the files in order; a missing or unreadable file is an error naming it. */
export function readKubeconfigFiles(files: string[]): KubeconfigEntries {
  const entries = emptyKubeconfig();
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    addKubeconfigText(entries, text, file);
  }
  return entries;
}

/** `<field>-data` (base64) or `<field>` (a file, relative to the kubeconfig's folder). */
function pemFrom(entry: Named, field: string, what: string): Buffer | undefined {
  const data = str(entry.value[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry.value[field]);
  if (!file) return undefined;
  const full = path.resolve(path.dirname(entry.file), file);
  try {
    return fs.readFileSync(full);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${entry.file}: cannot read the ${what} ${full} (${field} of '${entry.name}'): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const USE_INSTEAD = 'give calitrace a kubeconfig whose user has a token (e.g. from `kubectl create token SERVICEACCOUNT`) or a client certificate (client-certificate-data/client-key-data)';

function credentialsOf(user: Named): ClusterCredentials {
  const u = user.value;
  const where = `kubeconfig ${user.file}: user '${user.name}'`;
  if (isFields(u.exec)) {
    const cmd = str(u.exec.command) ?? 'a program';
    throw new KubeconfigError(`${where} gets its credentials from an exec plugin (${cmd}), which calitrace does not support; ${USE_INSTEAD}`);
  }
  if (isFields(u['auth-provider'])) {
    const name = str(u['auth-provider'].name) ?? 'unnamed';
    throw new KubeconfigError(`${where} uses the '${name}' auth-provider, which calitrace does not support; ${USE_INSTEAD}`);
  }
  if (str(u.username) || str(u.password)) {
    throw new KubeconfigError(`${where} uses basic authentication (username/password), which calitrace does not support; ${USE_INSTEAD}`);
  }
  const creds: ClusterCredentials = {};
  const token = str(u.token);
  const tokenFile = str(u.tokenFile);
  if (token) creds.token = token;
  else if (tokenFile) creds.tokenFile = path.resolve(path.dirname(user.file), tokenFile);
  creds.cert = pemFrom(user, 'client-certificate', 'client certificate');
  creds.key = pemFrom(user, 'client-key', 'client key');
  if (!!creds.cert !== !!creds.key) {
    throw new KubeconfigError(`${where} has a client ${creds.cert ? 'certificate but no key' : 'key but no certificate'}; give both (client-certificate[-data] and client-key[-data])`);
  }
  return creds;
}

/** The connection of `context` (default: current-context) in merged kubeconfig entries. */
export function connectionFromKubeconfig(k: KubeconfigEntries, context?: string): ClusterConnection {
  const files = k.files.join(':');
  const ctxName = context ?? k.currentContext;
  if (!ctxName) {
    const names = [...k.contexts.keys()];
    throw new KubeconfigError(`kubeconfig ${files} has no current-context; pick one with --kube-context${names.length ? ` (contexts: ${names.join(', ')})` : ''}`);
  }
  const ctx = k.contexts.get(ctxName);
  if (!ctx) {
    throw new KubeconfigError(`kubeconfig ${files} has no context '${ctxName}' (contexts: ${[...k.contexts.keys()].join(', ') || 'none'})`);
  }
  const clusterName = str(ctx.value.cluster);
  const cluster = clusterName ? k.clusters.get(clusterName) : undefined;
  if (!cluster) throw new KubeconfigError(`kubeconfig ${files}: context '${ctxName}' names cluster '${clusterName ?? ''}', which is not in the file`);
  const server = str(cluster.value.server);
  if (!server) throw new KubeconfigError(`kubeconfig ${cluster.file}: cluster '${cluster.name}' has no server`);
  if (!/^https:\/\//i.test(server)) {
    throw new KubeconfigError(`kubeconfig ${cluster.file}: cluster '${cluster.name}' server ${server} is not https://; calitrace only talks to the API over TLS`);
  }
  const userName = str(ctx.value.user);
  const user = userName ? k.users.get(userName) : undefined;
  if (userName && !user) throw new KubeconfigError(`kubeconfig ${files}: context '${ctxName}' names user '${userName}', which is not in the file`);
  return {
    server: server.replace(/\/+$/, ''),
    ca: pemFrom(cluster, 'certificate-authority', 'certificate authority'),
    insecureSkipTlsVerify: cluster.value['insecure-skip-tls-verify'] === true,
    tlsServerName: str(cluster.value['tls-server-name']),
    credentials: user ? credentialsOf(user) : {},
    source: `kubeconfig ${files}, context ${ctxName}`,
  };
}

export function loadKubeconfig(files: string[], context?: string): ClusterConnection {
  return connectionFromKubeconfig(readKubeconfigFiles(files), context);
}
