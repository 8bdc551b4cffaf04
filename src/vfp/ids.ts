/**
 * Stable identities (DESIGN.md "Identities are names, not positions"). A port and a virtual
 * network (RDID) get a small integer id from their NAME the first time a compile sees them, and
 * keep it for the registry's lifetime (the agent's), whatever their position in later policies.
 * Every table that outlives one snapshot is keyed by these ids: connection tracking (by virtual
 * network), the workers' port devices, outputs and per-port counters (by port). An id is never
 * given to another name, so a table entry made under one policy cannot be read as another
 * tenant's after a reload that reorders, adds or removes networks or ports.
 *
 * Ids are dense from 0 in first-seen order, so a registry used for one compile gives the same
 * numbers as positions would (tests that compile once see no difference).
 */
export class IdRegistry {
  private readonly ports = new Map<string, number>();
  private readonly networks = new Map<string, number>();
  private readonly addresses6 = new Map<string, number>();

  /** The stable id of port `name` (made on first use). */
  port(name: string): number {
    let id = this.ports.get(name);
    if (id === undefined) {
      id = this.ports.size;
      this.ports.set(name, id);
    }
    return id;
  }

  /** The stable id of virtual network `name` (made on first use): the conntrack zone. */
  network(name: string): number {
    let id = this.networks.get(name);
    if (id === undefined) {
      id = this.networks.size;
      this.networks.set(name, id);
    }
    return id;
  }

  /** The stable id (1, 2, ...; 0 = no known address) of IPv6 address `text` (RFC 5952 form):
   * flow keys and connections hold IPv6 addresses as these ids (ip6.ts). */
  address6(text: string): number {
    let id = this.addresses6.get(text);
    if (id === undefined) {
      id = this.addresses6.size + 1;
      this.addresses6.set(text, id);
    }
    return id;
  }

  /** The ids as plain data (for a worker that continues on them). */
  toJSON(): { ports: [string, number][]; networks: [string, number][]; addresses6: [string, number][] } {
    return { ports: [...this.ports], networks: [...this.networks], addresses6: [...this.addresses6] };
  }

  static from(data: { ports: [string, number][]; networks: [string, number][]; addresses6?: [string, number][] }): IdRegistry {
    const r = new IdRegistry();
    for (const [n, id] of data.ports) r.ports.set(n, id);
    for (const [n, id] of data.networks) r.networks.set(n, id);
    for (const [n, id] of data.addresses6 ?? []) r.addresses6.set(n, id);
    return r;
  }
}
