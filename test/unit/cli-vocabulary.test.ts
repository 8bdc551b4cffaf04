/**
 * One vocabulary across subcommands (issue 17): the policy file is -f/--policy, the control socket
 * --socket, a run length --seconds; the old spellings still work but are not in --help or the
 * completion script; --version; --json on the read commands; `completion bash`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Command } from 'commander';

// main.ts runs the command line when loaded unless this is set (it has no command line here)
(globalThis as { switchyardNoMain?: boolean }).switchyardNoMain = true;
const { buildProgram } = await import('../../src/cli/main.js');

/** Runs the command line in-process; what it printed, and whether commander stopped it. */
async function cli(args: string[]): Promise<{ out: string; err: string; exit?: number }> {
  let out = '';
  let err = '';
  const program = buildProgram();
  const quiet = (c: Command) => {
    c.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s), outputError: (s) => (err += s) });
    c.commands.forEach(quiet);
  };
  quiet(program);
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  try {
    await program.parseAsync(['node', 'switchyard', ...args]);
    return { out, err };
  } catch (e) {
    const { exitCode, code } = e as { exitCode?: number; code?: string };
    // commander's own output (help, version, usage errors) went through writeOut/writeErr already
    const shown = code === 'commander.helpDisplayed' || code === 'commander.version' || err.includes((e as Error).message);
    return { out, err: shown ? err : `${err}${(e as Error).message}`, exit: exitCode ?? 1 };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

afterEach(() => {
  process.exitCode = 0;
});

describe('CLI vocabulary', () => {
  it("--version prints package.json's version", async () => {
    const r = await cli(['--version']);
    expect(r.out.trim()).toBe((JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version);
  });

  it('validate takes -f, --policy and the old --file; --json for programs', async () => {
    for (const flag of ['-f', '--policy', '--file']) {
      const r = await cli(['validate', flag, 'examples/figure8.yaml']);
      expect(r.out, flag).toContain('examples/figure8.yaml: ok (2 hosts');
    }
    const j = await cli(['validate', '-f', 'examples/figure8-acl.yaml', '--json']);
    expect(JSON.parse(j.out)).toEqual({ ok: true, file: 'examples/figure8-acl.yaml', counts: { hosts: 2, virtualNetworks: 2, networkInterfaces: 4, accessControlLists: 3 } });
    const missing = await cli(['validate']);
    expect(missing.exit).toBe(1);
    expect(missing.err).toContain('give the policy file: -f FILE');
  });

  it('--help shows one name per concept and hides the old ones', async () => {
    const agent = (await cli(['agent', '--help'])).out;
    expect(agent).toContain('--socket <path>');
    expect(agent).not.toMatch(/--control </);
    const demo = (await cli(['demo', '--help'])).out;
    expect(demo).toContain('--seconds <n>');
    expect(demo).not.toContain('--iperf-seconds');
    expect((await cli(['ctl', 'stats', '--help'])).out).toContain('--json');
  });

  it('completion bash lists subcommands and visible flags only, and is valid bash', async () => {
    const r = await cli(['completion', 'bash']);
    expect(r.out).toContain('complete -F _switchyard switchyard');
    expect(r.out).toMatch(/"ctl dump-flows"\) words="[^"]*--port/);
    expect(r.out).toMatch(/"lab"\) words="up status down/);
    expect(r.out).not.toContain('--iperf-seconds');
    const bash = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['-c', `${r.out}\nCOMP_WORDS=(switchyard ctl dump); COMP_CWORD=2; _switchyard; echo "\${COMPREPLY[@]}"`], (err, out) => (err ? reject(err) : resolve(out))),
    );
    expect(bash.trim()).toBe('dump-flows');
    expect((await cli(['completion', 'zsh'])).err).toContain('only bash is supported');
  });
});

describe('unknown names', () => {
  it('one wording everywhere, with did-you-mean for a near miss', async () => {
    const { unknownNameMessage } = await import('../../src/policy/suggest.js');
    const ports = ['contoso-sql', 'fabrikam-sql'];
    expect(unknownNameMessage('port', 'contoso-sq', 'host host1', ports)).toBe('no port "contoso-sq" on host host1 (did you mean contoso-sql?) (ports: contoso-sql, fabrikam-sql)');
    expect(unknownNameMessage('port', 'fabrikam', 'host host1', ports)).toBe('no port "fabrikam" on host host1 (did you mean fabrikam-sql?) (ports: contoso-sql, fabrikam-sql)');
    expect(unknownNameMessage('port', 'nope', 'host host1', ports)).toBe('no port "nope" on host host1 (ports: contoso-sql, fabrikam-sql)');
    expect(unknownNameMessage('port', 'x', '', [])).toBe('no port "x" (ports: none)');
  });
});
