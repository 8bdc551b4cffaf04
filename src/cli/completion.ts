/**
 * `switchyard completion bash`: a bash completion script made from the command tree itself, so it
 * never lists a flag the commands do not take (hidden old spellings are left out, as in --help).
 */
import type { Command, Option } from 'commander';

interface Node {
  path: string;
  subcommands: string[];
  flags: string[];
}

function visible(o: Option): boolean {
  return !(o as Option & { hidden?: boolean }).hidden;
}

function walk(c: Command, prefix: string, out: Node[]): void {
  const flags = c.options.filter(visible).flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string'));
  out.push({ path: prefix, subcommands: c.commands.map((s) => s.name()), flags: [...flags, '--help'] });
  for (const s of c.commands) walk(s, prefix ? `${prefix} ${s.name()}` : s.name(), out);
}

export function completionScript(program: Command): string {
  const nodes: Node[] = [];
  walk(program, '', nodes);
  const cases = nodes
    .map((n) => `    ${JSON.stringify(n.path)}) words="${[...n.subcommands, ...n.flags].join(' ')}" ;;`)
    .join('\n');
  const names = new Set(nodes.flatMap((n) => n.subcommands));
  return `# bash completion for switchyard: source <(switchyard completion bash)
_switchyard() {
  local cur path="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  # the command path so far: the words that name (sub)commands
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " ${[...names].join(' ')} " in
      *" $w "*) path="\${path:+$path }$w" ;;
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  # a flag that takes a file: complete file names
  case "\${COMP_WORDS[COMP_CWORD-1]}" in
    -f|--policy|--socket|--store|--token-file|--cache|--state-dir|-w|--write|--out) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _switchyard switchyard
`;
}
