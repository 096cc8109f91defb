// h.daemons (and ipvs.daemons): IPVS's connection sync daemons with the verbs every subsystem
// uses (DESIGN.md: `daemons`, in the style of link's h.addresses). The work is IpvsHandle's;
// this object only names it (startDaemon/stopDaemon/listDaemons stay on the handle and the
// module as deprecated aliases for one release).
import type { Daemon, DaemonConfig, DaemonState } from './types.js';

/** The IpvsHandle methods this object names (internal; each takes the op its errors carry). */
export interface DaemonOps {
  daemonStart(op: string, config: DaemonConfig): Promise<void>;
  daemonStop(op: string, state: DaemonState | { state: DaemonState }): Promise<void>;
  daemonList(op: string): Promise<Daemon[]>;
}

/**
 * h.daemons: the connection sync daemons of the handle's namespace, like `ipvsadm --start-daemon`.
 * @example await h.daemons.start({ state: 'backup', interface: 'eth0', syncId: 1 });
 */
export class Daemons {
  readonly #h: DaemonOps;

  constructor(h: DaemonOps) {
    this.#h = h;
  }

  /**
   * Starts the sync daemon of a state (master or backup), like `ipvsadm --start-daemon`.
   * @example await h.daemons.start({ state: 'master', interface: 'eth0', syncId: 1 });
   */
  start(config: DaemonConfig): Promise<void> {
    return this.#h.daemonStart('ipvs.daemons.start', config);
  }

  /**
   * Stops the sync daemon of that state (or of `{ state }`, as list() returns it), like `ipvsadm --stop-daemon`.
   * @example await h.daemons.stop('master');
   */
  stop(state: DaemonState | { state: DaemonState }): Promise<void> {
    return this.#h.daemonStop('ipvs.daemons.stop', state);
  }

  /**
   * The running sync daemons, like `ipvsadm -L --daemon`.
   * @example const running = await h.daemons.list();
   */
  list(): Promise<Daemon[]> {
    return this.#h.daemonList('ipvs.daemons.list');
  }
}
