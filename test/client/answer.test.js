"use strict";
// chunks -> answer text and events (src/client/answer.ts), without a network.
const { assert, client, fold } = require("./helpers");
const {
  ChatAnswer,
  ThinkingSplitter,
  parseVisDocument,
  splitThinking,
} = require("../../nodes/lib/client/answer.js");

const OPEN = "``````vis-thinking\n";
const CLOSE = "\n``````";

function answerFor(mode, chatParam) {
  const events = [];
  const answer = new ChatAnswer(mode, chatParam, "m", (event) => events.push(event));
  return { answer, events };
}

function finishError(answer) {
  try {
    answer.finish();
  } catch (err) {
    return err;
  }
  return undefined;
}

const chunk = { id: "c1", model: "gpt-4o" };

function appDoc(...parts) {
  return parts.join("\n");
}

function messages(list) {
  return "```agent-messages\n" + JSON.stringify(list) + "\n```";
}

function plans(list) {
  return "```agent-plans\n" + JSON.stringify(list) + "\n```";
}

describe("client answer building (answer.ts)", () => {
  describe("vis-thinking splitting", () => {
    const text = `${OPEN}step one\nstep two${CLOSE}\nThe answer: \`code\` and more`;

    it("moves a vis-thinking block to reasoning, dropping the newline after the fence", () => {
      assert.deepEqual(splitThinking(text), {
        text: "The answer: `code` and more",
        reasoning: "step one\nstep two",
      });
    });

    it("gives the same split for every way of cutting the text in two or three", () => {
      for (let a = 0; a <= text.length; a++) {
        for (let b = a; b <= text.length; b += 7) {
          const got = { text: "", reasoning: "" };
          const splitter = new ThinkingSplitter({
            append: (t) => (got.text += t),
            appendReasoning: (t) => (got.reasoning += t),
          });
          for (const piece of [text.slice(0, a), text.slice(a, b), text.slice(b)])
            if (piece) splitter.push(piece);
          splitter.flush();
          assert.deepEqual(got, splitThinking(text), `cuts at ${a}, ${b}`);
        }
      }
    });

    it("holds back only a possible partial fence, and releases it when it is not one", () => {
      const seen = [];
      const splitter = new ThinkingSplitter({
        append: (t) => seen.push(["text", t]),
        appendReasoning: (t) => seen.push(["reasoning", t]),
      });
      splitter.push("run `ls` then ``");
      assert.deepEqual(seen, [["text", "run `ls` then "]]);
      splitter.push("x");
      assert.deepEqual(seen[1], ["text", "``x"]);
    });

    it("keeps text that only looks like a fence at the end of the stream", () => {
      assert.deepEqual(splitThinking("ends with ``````vis"), { text: "ends with ``````vis", reasoning: "" });
      assert.deepEqual(splitThinking(`${OPEN}unclosed`), { text: "", reasoning: "unclosed" });
    });
  });

  describe("vis documents (chat_app)", () => {
    it("walks messages in document order, including those nested in plans", () => {
      const nested = messages([
        { sender: "DataScientist", receiver: "Planner", markdown: "facts ```sql\nx``` done" },
      ]);
      const doc = parseVisDocument(
        appDoc(
          plans([{ name: "Step 1", num: 1, status: "complete", agent: "DataScientist", markdown: nested }]),
          messages([{ sender: "Summarizer", receiver: "?", markdown: "Sum" }]),
        ),
      );
      assert.deepEqual(
        doc.messages.map((m) => m.sender),
        ["DataScientist", "Summarizer"],
      );
      assert.equal(doc.messages[0].markdown, "facts ```sql\nx``` done");
      assert.equal(doc.plans.length, 1);
      assert.equal(doc.trailingText, "");
    });

    it("finds plain text after the last vis block, and skips blocks it cannot parse", () => {
      const doc = parseVisDocument(
        appDoc(
          "\n" + messages([{ sender: "A", markdown: "x" }]),
          "```vis-app-link\n{}\n```",
          "```agent-messages\n[broken\n```",
          "Final answer.",
        ),
      );
      assert.equal(doc.messages.length, 1);
      assert.equal(doc.trailingText, "Final answer.");
    });
  });

  describe("long answers (the text buffer)", () => {
    it("keeps every piece, in order, across many flattenings, with reads and a replace between", () => {
      const { answer, events } = answerFor("chat_normal");
      const expected = [];
      let reasoning = "";
      for (let i = 0; i < 20000; i++) {
        const piece = ` ${i.toString(36)}`;
        answer.onDelta(chunk, piece, i % 3 === 0 ? `r${i}` : null);
        expected.push(piece);
        if (i % 3 === 0) reasoning += `r${i}`;
        // Reading mid-stream (as snapshot modes do) must not lose or repeat what comes after.
        if (i === 5000 || i === 12345) assert.equal(answer.output.text, expected.join(""), `read at ${i}`);
      }
      assert.equal(answer.output.reasoning, reasoning);
      answer.finish();
      assert.equal(answer.output.text, expected.join(""));
      assert.deepEqual(fold(events), { text: expected.join(""), reasoning });

      const replaced = answerFor("chat_normal");
      for (let i = 0; i < 9000; i++) replaced.answer.onDelta(chunk, "x", null);
      replaced.answer.output.replace("new start");
      for (let i = 0; i < 9000; i++) replaced.answer.onDelta(chunk, "y", null);
      replaced.answer.finish();
      assert.equal(replaced.answer.output.text, "new start" + "y".repeat(9000));
    });
  });

  describe("modes", () => {
    it("appends deltas, skips null content and empty deltas, reports reasoning apart", () => {
      const { answer, events } = answerFor("chat_normal");
      answer.onDelta(chunk, null, "Let me");
      answer.onDelta(chunk, null, " think.");
      answer.onDelta(chunk, "The answer", null);
      answer.onDelta(chunk, " is 42.", null);
      answer.onDelta(chunk, "", null);
      answer.finish();
      assert.deepEqual(events, [
        { type: "reasoning", text: "Let me" },
        { type: "reasoning", text: " think." },
        { type: "delta", text: "The answer" },
        { type: "delta", text: " is 42." },
      ]);
      assert.equal(answer.output.text, "The answer is 42.");
      assert.equal(answer.chunks, 5);
      assert.equal(answer.model, "gpt-4o");
    });

    it("turns growing snapshots into deltas and a rewritten snapshot into a replace", () => {
      const { answer, events } = answerFor("chat_normal");
      for (const text of ["Hello", "Hello!", "Hello! How", "Hello! How", "Bye"])
        answer.onSnapshot(chunk, text, null);
      answer.finish();
      assert.deepEqual(events, [
        { type: "delta", text: "Hello" },
        { type: "delta", text: "!" },
        { type: "delta", text: " How" },
        { type: "replace", text: "Bye" },
      ]);
      assert.ok(answer.sawSnapshot);
    });

    it("grows cumulative snapshot reasoning as reasoning deltas", () => {
      const { answer, events } = answerFor("chat_normal");
      answer.onSnapshot(chunk, "", "Let");
      answer.onSnapshot(chunk, "", "Let me");
      answer.onSnapshot(chunk, "A", "Let me");
      answer.finish();
      assert.deepEqual(events, [
        { type: "reasoning", text: "Let" },
        { type: "reasoning", text: " me" },
        { type: "delta", text: "A" },
      ]);
    });

    it("chat_app: replaces, computes deltas on the last agent message, and replaces when a new agent speaks", () => {
      const { answer, events } = answerFor("chat_app", "app-1");
      const first = (md, receiver = "?") => messages([{ sender: "DataScientist", receiver, markdown: md }]);
      answer.onDelta(chunk, null, undefined);
      answer.onDelta(chunk, "\n" + first("Step"), undefined);
      answer.onDelta(chunk, "\n" + first("Step 1: facts"), undefined);
      const stored = plans([
        { name: "Step 1", num: 1, agent: "DataScientist", markdown: first("Step 1: facts", "Planner") },
      ]);
      answer.onDelta(chunk, stored, undefined);
      answer.onDelta(
        chunk,
        appDoc(stored, messages([{ sender: "Summarizer", receiver: "?", markdown: "" }])),
        undefined,
      );
      answer.onDelta(
        chunk,
        appDoc(stored, messages([{ sender: "Summarizer", receiver: "?", markdown: "Sum" }])),
        undefined,
      );
      answer.onDelta(
        chunk,
        appDoc(stored, messages([{ sender: "Summarizer", receiver: "?", markdown: "Summary." }])),
        undefined,
      );
      answer.onDelta(chunk, null, undefined);
      answer.finish();
      assert.deepEqual(events, [
        { type: "delta", text: "Step" },
        { type: "delta", text: " 1: facts" },
        { type: "replace", text: "Sum" },
        { type: "delta", text: "mary." },
      ]);
      assert.equal(answer.output.text, "Summary.");
      assert.equal(answer.messages.length, 2);
      assert.equal(answer.plans.length, 1);
      assert.equal(answer.chunks, 8);
    });

    it("chat_app: vis-thinking in the agent's markdown becomes reasoning", () => {
      const { answer, events } = answerFor("chat_app", "app-1");
      const doc = (md) => messages([{ sender: "A", receiver: "?", markdown: md }]);
      answer.onDelta(chunk, doc(`${OPEN}Let me${CLOSE}`), undefined);
      answer.onDelta(chunk, doc(`${OPEN}Let me think${CLOSE}\nAnswer`), undefined);
      answer.finish();
      assert.deepEqual(fold(events), { text: "Answer", reasoning: "Let me think" });
    });

    it("chat_app: a stream without answer text is DBGPT_STREAM_ERROR naming the app", () => {
      const { answer } = answerFor("chat_app", "my-app");
      answer.onDelta(chunk, null, undefined);
      const err = finishError(answer);
      assert.equal(err.code, "DBGPT_STREAM_ERROR");
      assert.equal(
        err.message,
        "app my-app produced no answer; native and AWEL-flow apps cannot be used with chat_app",
      );
    });

    for (const text of [
      "**LLMServer Generate Error, Please CheckErrorInfo.**: Cound not found worker instances",
      "Model server error!code=1, error msg is output parse failed",
      "<span style='color:red'>ERROR!</span> boom",
    ]) {
      it(`an answer starting with "${text.slice(0, 20)}" is DBGPT_STREAM_ERROR and never emitted`, () => {
        const { answer, events } = answerFor("chat_normal");
        for (let i = 0; i < text.length; i += 5) answer.onDelta(chunk, text.slice(i, i + 5), null);
        const err = finishError(answer);
        assert.ok(err instanceof client.DbgptError);
        assert.equal(err.code, "DBGPT_STREAM_ERROR");
        assert.equal(err.serverMessage, text);
        assert.ok(err.message.includes(text));
        assert.deepEqual(events, []);
      });
    }

    it("holds back a start that could be an error prefix only until it cannot be one", () => {
      const { answer, events } = answerFor("chat_normal");
      answer.onDelta(chunk, "Mod", null);
      assert.deepEqual(events, []);
      answer.onDelta(chunk, "el answers", null);
      assert.deepEqual(events, [{ type: "delta", text: "Model answers" }]);
      answer.onDelta(chunk, "!", null);
      answer.finish();
      assert.equal(fold(events).text, "Model answers!");
    });

    it("releases a short answer that is a prefix of an error prefix at the end", () => {
      const { answer, events } = answerFor("chat_normal");
      answer.onDelta(chunk, "Model", null);
      answer.finish();
      assert.deepEqual(events, [{ type: "delta", text: "Model" }]);
    });
  });
});
