// Signing in: the password, then the second factor (a TOTP code), or, for a user who has none
// yet, its enrolment with the one-time token an admin handed over (a QR code to scan).

import QRCode from "qrcode";

import { Api, ApiError, type Session, type Tokens } from "../api";
import { h, replace } from "../dom";

export function loginView(session: Session, done: () => void): HTMLElement {
  const root = h("main", { class: "login" });
  const message = h("p", { class: "refusal", role: "alert", "data-testid": "login-error" });
  const fail = (error: unknown) => {
    message.textContent = error instanceof ApiError ? error.reason : String(error);
  };
  /** Send `form` by `action`; a refusal is shown (and `refused` run). */
  const sends = (form: HTMLFormElement, action: () => Promise<void>, refused?: () => void) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      message.textContent = "";
      try {
        await action();
      } catch (error) {
        fail(error);
        refused?.();
      }
    };
  };
  const card = (title: string, ...children: Node[]) =>
    replace(root, h("section", { class: "card login-card" }, h("h1", {}, "TradingFloor"), h("h2", {}, title), ...children, message));

  const passwordStep = () => {
    const username = h("input", { name: "username", autocomplete: "username", required: true, maxlength: 64, autofocus: true });
    const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 1024 });
    const form = h(
      "form",
      {},
      h("label", {}, "Username", username),
      h("label", {}, "Password", password),
      h("button", { type: "submit", class: "primary" }, "Sign in"),
    );
    sends(form, async () => {
      const tokens = await Api.signIn<Tokens>("/v1/auth/login", {
        username: username.value,
        password: password.value,
      });
      session.username = username.value;
      if (tokens.second_factor === "enrollment_required") enrolStep(tokens);
      else codeStep(tokens);
    });
    card("Sign in", form);
    username.focus();
  };

  const codeInput = () =>
    h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6, required: true });

  const codeStep = (half: Tokens) => {
    const code = codeInput();
    const form = h(
      "form",
      {},
      h("p", {}, "Enter the 6-digit code from your authenticator app."),
      h("label", {}, "Code", code),
      h("button", { type: "submit", class: "primary" }, "Verify"),
    );
    sends(
      form,
      async () => {
        session.set(await Api.signIn<Tokens>("/v1/auth/totp/verify", { code: code.value }, half.access_token));
        done();
      },
      () => (code.value = ""),
    );
    card("Second factor", form);
    code.focus();
  };

  const enrolStep = (half: Tokens) => {
    const enrolment = h("input", { name: "enrollment_token", required: true, maxlength: 256 });
    const form = h(
      "form",
      {},
      h("p", {}, "Your login has no second factor yet. Enter the enrolment token your administrator gave you."),
      h("label", {}, "Enrolment token", enrolment),
      h("button", { type: "submit", class: "primary" }, "Continue"),
    );
    sends(form, async () => {
      const secret = await Api.signIn<{ secret: string; provisioning_uri: string }>(
        "/v1/auth/totp/enroll",
        { enrollment_token: enrolment.value.trim() },
        half.access_token,
      );
      scanStep(half, secret.secret, secret.provisioning_uri);
    });
    card("Set up your second factor", form);
    enrolment.focus();
  };

  const scanStep = (half: Tokens, secret: string, uri: string) => {
    const image = h("img", { class: "qr", alt: "QR code of the TOTP secret", "data-testid": "totp-qr" });
    void QRCode.toDataURL(uri, { margin: 1, width: 200 }).then((url) => {
      image.src = url;
    });
    const code = codeInput();
    const form = h(
      "form",
      {},
      h("p", {}, "Scan this code with an authenticator app, or type the secret in, then enter the code it shows."),
      image,
      h("p", { class: "secret" }, "Secret: ", h("code", { "data-testid": "totp-secret" }, secret)),
      h("label", {}, "Code", code),
      h("button", { type: "submit", class: "primary" }, "Confirm"),
    );
    sends(form, async () => {
      session.set(await Api.signIn<Tokens>("/v1/auth/totp/confirm", { code: code.value }, half.access_token));
      done();
    });
    card("Scan the QR code", form);
    code.focus();
  };

  passwordStep();
  return root;
}
