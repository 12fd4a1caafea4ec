// Shared by server.mjs and clients.mjs. Under D50's load automerge-repo's own `whenReady`
// waits (60 s, `DocHandle.js`) time out inside the repo where nothing awaits them, and Node
// ends a process on an unhandled rejection: the peer died mid-upload. They are logged to
// stderr instead (the first five, then every hundredth), so that the peer can still finish;
// the benchmark times it out and records a failure if it does not.
export function logUnhandledRejections() {
  let unhandled = 0;
  process.on("unhandledRejection", (e) => {
    unhandled++;
    if (unhandled <= 5 || unhandled % 100 === 0) {
      console.error(`unhandled rejection #${unhandled} inside automerge-repo: ${e}`);
    }
  });
}
