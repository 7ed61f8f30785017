/** Warnings a node gives once per start (a redeploy starts again). */
import type { Node } from "./red";

export type WarnOnce = (key: string, text: string) => void;

export function warnOnce(node: Node): WarnOnce {
  const given = new Set<string>();
  return (key, text) => {
    if (given.has(key)) return;
    given.add(key);
    node.warn(text);
  };
}
