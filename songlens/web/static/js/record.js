// Record a clip from the microphone (MediaRecorder) to search with. Shown only where the browser
// allows it (a secure context: localhost or https).
import { bi, h } from "./dom.js";

const SECONDS = 10;

export function recorder(onClip) {
  if (!navigator.mediaDevices || !window.MediaRecorder) return null;
  const status = h("span", { class: "rec-status" });
  const button = h("button", { type: "button", class: "record" }, "● ", bi("录 10 秒", "Record 10 s"));
  button.addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      status.textContent = ` 无法使用麦克风 Microphone unavailable (${e.name})`;
      return;
    }
    const rec = new MediaRecorder(stream);
    const parts = [];
    rec.ondataavailable = (ev) => parts.push(ev.data);
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      button.disabled = false;
      status.textContent = "";
      const type = rec.mimeType || "audio/webm";
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      onClip(new File(parts, `recording.${ext}`, { type }));
    };
    button.disabled = true;
    status.textContent = ` 录音中 Recording… ${SECONDS} s`;
    rec.start();
    setTimeout(() => rec.state !== "inactive" && rec.stop(), SECONDS * 1000);
  });
  return h("span", { class: "recorder" }, button, status);
}
