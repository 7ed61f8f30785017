/**
 * The slice of Node-RED's API the nodes use, named once. Types only: nothing here is loaded at runtime,
 * so the compiled nodes never require node-red itself.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from "node-red";

export type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus };

/** The `send` an input handler receives: one message, or one entry (or array) per output. */
export type SendFn = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/** The `done` an input handler receives: call it exactly once per input message. */
export type DoneFn = (err?: Error) => void;

/** The close handler's `done`. */
export type CloseDoneFn = () => void;

/** A message as the nodes read it: any property may be present. */
export type InputMessage = NodeMessageInFlow & Record<string, unknown>;
