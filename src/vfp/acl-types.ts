/** The compiled ACL rule and the frame fields an ACL examines (shared by acl.ts and classifier.ts). */

export const PROTO_ANY = -1;

/** One compiled rule. Prefix networks are uint32; port ranges inclusive. */
export interface AclRuleC {
  readonly rank: number;
  readonly name: string;
  readonly acl: string;
  readonly priority: number;
  readonly proto: number;
  readonly srcNet: number;
  readonly srcLen: number;
  readonly dstNet: number;
  readonly dstLen: number;
  readonly spLo: number;
  readonly spHi: number;
  readonly dpLo: number;
  readonly dpHi: number;
  readonly allow: boolean;
  /** Log each new flow this rule decides (acl-log.ts). */
  readonly logging: boolean;
  /** Address family the rule's prefixes name: 0 both ('*' both ways), 4, or 6. An IPv6 rule's
   * prefixes are in net6 (source words 0..3, destination 4..7; lengths srcLen/dstLen, srcNet and
   * dstNet 0) and it never enters the IPv4 classifier (acl6.ts matches it). */
  readonly family: number;
  readonly net6: Uint32Array | null;
  /** One line for trace and dump output, e.g. "web-in#110 allow tcp * -> 10.1.1.0/24 dport 80". */
  readonly text: string;
}

/** The fields of a frame an ACL examines. `proto` is PROTO_ANY for frames that are not IPv4;
 * `l4` is true when `sport`/`dport` are meaningful (TCP/UDP, not a later fragment). */
export interface AclInput {
  isIp: boolean;
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  l4: boolean;
}

