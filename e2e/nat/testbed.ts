/**
 * Real NATs on one machine, for the browser tests and the path bench: network namespaces built
 * with `ip` and `iptables` (the recipe in ARCHITECTURE.md, "Testing across NATs").
 *
 *   wan namespace: bridge br0, 203.0.113.1/24 (a documentation range that exists only here),
 *                  where the signal server and coturn run ("the internet")
 *   per home N:    router namespace, wan 203.0.113.(N+1) on a veth into br0, lan bridge
 *                  10.10.N.1, NAT (MASQUERADE; --random-fully makes it symmetric);
 *                  host namespaces on that bridge, 10.10.N.2, .3, …, default route via the
 *                  router: one Chromium each (one host per home unless built with more)
 *
 * Each router drops new inbound UDP before conntrack confirms it: without that rule a peer's
 * first check, arriving before the local side has sent, leaves a conntrack entry that forces a
 * new mapping, and even STUN-assisted pairs never connect (the Linux hole-punching race).
 *
 * Everything is named after this process (`pcnat<pid>-…`), so two runs never share a namespace,
 * and namespaces left by a run that was killed are removed by the next one.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumExecutable } from '../chromium.ts';

/** Port-restricted cone (Linux's default MASQUERADE) or symmetric (a new port per destination). */
export type NatKind = 'port-restricted' | 'symmetric';

export const WAN_IP = '203.0.113.1';
const PREFIX = 'pcnat';
/** How long a service in the wan namespace may take to say it is listening. */
const START_TIMEOUT_MS = 20_000;

export interface Home {
  /** The namespace the home's (first) browser runs in: hosts[0]. */
  host: string;
  /** Every host namespace on the home's LAN; they reach each other through its bridge alone. */
  hosts: string[];
  router: string;
  /** The router's address on the internet: what the NAT maps the host to. */
  publicIp: string;
  /** The (first) host's own address, which no one outside the home can reach. */
  privateIp: string;
}

export interface TestbedOptions {
  /** Hosts on each home's LAN (default 1): two give a path between homes' peers with no router. */
  hostsPerHome?: number;
}

/** A process started in a namespace; `log` is all it has printed so far. */
export interface Service {
  readonly process: ChildProcess;
  log(): string;
  /** Resolves once the log matches, rejects if the process exits first or the wait times out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/**
 * Null when this machine can build the testbed, else one line saying why not and what to do.
 * The suite fails with that line rather than skipping: CI runs as root and must run it.
 */
export function testbedProblem(): string | null {
  if (process.platform !== 'linux') return 'The NAT tests need Linux network namespaces.';
  if (process.getuid?.() !== 0) return 'The NAT tests build network namespaces and need root (CI runs as root): run them as root.';
  for (const [command, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables'], ['turnserver', 'coturn'], ['openssl', 'openssl']] as const) {
    if (spawnSync(command, ['--version'], { stdio: 'ignore' }).error) return `The NAT tests need ${command}: apt-get install ${pkg}.`;
  }
  return null;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

const ipIn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const execIn = (ns: string, command: string, ...args: string[]) => run('ip', ['netns', 'exec', ns, command, ...args]);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces of runs whose process is gone (killed before it could tear down). */
function removeStaleNamespaces(): void {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (owner && !alive(Number(owner[1]))) spawnSync('ip', ['netns', 'del', name]);
  }
}

export class Testbed {
  readonly wan: string;
  readonly homes: Home[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'peerchat-nat-'));
  private readonly namespaces: string[] = [];
  private readonly services: Service[] = [];
  private readonly browsers: Browser[] = [];
  private closed = false;

  /** Builds the wan and `homes` homes behind NATs of one kind; tears down what it built on failure. */
  static build(nat: NatKind, homes: number, options: TestbedOptions = {}): Testbed {
    const problem = testbedProblem();
    if (problem) throw new Error(problem);
    removeStaleNamespaces();
    const bed = new Testbed(nat, homes, options.hostsPerHome ?? 1);
    return bed;
  }

  private constructor(nat: NatKind, homes: number, hostsPerHome: number) {
    const name = (part: string) => `${PREFIX}${process.pid}-${part}`;
    this.wan = name('wan');
    try {
      this.addNamespace(this.wan);
      ipIn(this.wan, 'link', 'add', 'br0', 'type', 'bridge');
      ipIn(this.wan, 'addr', 'add', `${WAN_IP}/24`, 'dev', 'br0');
      ipIn(this.wan, 'link', 'set', 'br0', 'up');
      for (let n = 1; n <= homes; n++) {
        // h1, h1b, h1c, …: the first host keeps the name it had when homes had one host.
        const hosts = Array.from({ length: hostsPerHome }, (_, k) => name(`h${n}${k === 0 ? '' : String.fromCharCode(97 + k)}`));
        this.homes.push(this.addHome(n, nat, name(`r${n}`), hosts));
      }
    } catch (err) {
      this.removeNamespaces();
      throw err;
    }
  }

  private addNamespace(ns: string): void {
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    // The testbed is IPv4 only. With IPv6 on, each link's fe80:: address leaves its tentative
    // state a second or two after the link comes up; Chromium sees that as the network changing
    // and fails a navigation under way with ERR_NETWORK_CHANGED (seen in CI on test (7), which
    // opens its tabs soonest). Set before any link exists, so every link here is born without it.
    if (existsSync('/proc/sys/net/ipv6')) execIn(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ipIn(ns, 'link', 'set', 'lo', 'up');
  }

  private addHome(n: number, nat: NatKind, router: string, hosts: string[]): Home {
    const publicIp = `203.0.113.${n + 1}`;
    const hostIp = (k: number) => `10.10.${n}.${k + 2}`;
    this.addNamespace(router);
    // Both ends of each veth are created inside their namespaces: no names in the root one.
    ipIn(router, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', `home${n}`, 'netns', this.wan);
    ipIn(this.wan, 'link', 'set', `home${n}`, 'master', 'br0', 'up');
    ipIn(router, 'addr', 'add', `${publicIp}/24`, 'dev', 'wan');
    ipIn(router, 'link', 'set', 'wan', 'up');
    // The LAN is a bridge, a home's switch: its hosts reach each other without the router's
    // forwarding or NAT, and the router is one more port on it.
    ipIn(router, 'link', 'add', 'lan', 'type', 'bridge');
    ipIn(router, 'addr', 'add', `10.10.${n}.1/24`, 'dev', 'lan');
    ipIn(router, 'link', 'set', 'lan', 'up');
    hosts.forEach((host, k) => {
      this.addNamespace(host);
      ipIn(router, 'link', 'add', `lan${k + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host);
      ipIn(router, 'link', 'set', `lan${k + 1}`, 'master', 'lan', 'up');
      ipIn(host, 'addr', 'add', `${hostIp(k)}/24`, 'dev', 'eth0');
      ipIn(host, 'link', 'set', 'eth0', 'up');
      ipIn(host, 'route', 'add', 'default', 'via', `10.10.${n}.1`);
    });
    execIn(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    const masquerade = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE'];
    execIn(router, 'iptables', ...masquerade, ...(nat === 'symmetric' ? ['--random-fully'] : []));
    execIn(router, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    execIn(router, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-j', 'DROP');
    execIn(router, 'iptables', '-A', 'INPUT', '-i', 'wan', '-p', 'udp', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
    return { host: hosts[0]!, hosts, router, publicIp, privateIp: hostIp(0) };
  }

  /**
   * Adds `ms` of one-way delay on every router's wan link with tc netem. netem delays what a
   * device sends, so a packet leaving a home is delayed once, at its own router: home to home
   * (srflx) or home to coturn to home (relay) gains `ms` each way, a round trip 2 × `ms`; hosts
   * on one LAN gain nothing. Returns null when it did, else why not (kernels built without
   * netem, like this project's CI machines, lack it).
   */
  addDelay(ms: number): string | null {
    for (const home of this.homes) {
      const result = spawnSync('ip', ['netns', 'exec', home.router, 'tc', 'qdisc', 'add', 'dev', 'wan', 'root', 'netem', 'delay', `${ms}ms`], { encoding: 'utf8' });
      if (result.status !== 0) return `tc netem: ${(result.stderr || String(result.error)).trim()}`;
    }
    return null;
  }

  /** Starts a process inside a namespace; it is ended by close(). */
  spawn(ns: string, command: string, args: string[], env: Record<string, string> = {}, cwd?: string): Service {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const service: Service = {
      process: child,
      log: () => log,
      waitFor: (pattern, timeoutMs = START_TIMEOUT_MS) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const match = pattern.exec(log);
            if (match) return finish(() => resolve(match));
            if (child.exitCode !== null || child.signalCode !== null) {
              finish(() => reject(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${log}`)));
            }
          };
          const timer = setTimeout(() => finish(() => reject(new Error(`${command} did not print ${pattern} within ${timeoutMs} ms:\n${log}`))), timeoutMs);
          const finish = (settle: () => void) => {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            child.stderr!.off('data', check);
            child.off('exit', check);
            settle();
          };
          child.stdout!.on('data', check);
          child.stderr!.on('data', check);
          child.on('exit', check);
          check();
        }),
    };
    this.services.push(service);
    return service;
  }

  /**
   * A Chromium that runs inside `ns`: Playwright starts it through a two-line wrapper and drives
   * it over a pipe, which crosses namespaces.
   */
  async browser(ns: string, args: string[] = []): Promise<Browser> {
    const wrapper = join(this.dir, `chromium-${ns}.sh`);
    const executable = chromiumExecutable() ?? chromium.executablePath();
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${executable} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const browser = await chromium.launch({ executablePath: wrapper, args: [...CHROMIUM_ARGS, ...args] });
    this.browsers.push(browser);
    return browser;
  }

  /** Ends the browsers and services, then removes the namespaces and files. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.browsers.map((b) => b.close().catch(() => {})));
    await Promise.all(this.services.map((s) => stop(s.process)));
    this.removeNamespaces();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private removeNamespaces(): void {
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within two seconds. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}
