// Passkeys (WebAuthn). A form with data-passkey="create" (add a passkey) or "get" (sign in)
// carries the server's options as JSON in data-options. On submit this script asks the
// browser (navigator.credentials), puts the answer as JSON into the form's "credential"
// field and posts the form; the server checks everything. The button stays hidden in a
// browser without scripts or without WebAuthn.
"use strict";

(function () {
  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBuffer(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.user.id = toBuffer(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  function asJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    }
    if (response.authenticatorData) {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return out;
  }

  function say(form, message) {
    var status = form.querySelector(".passkey-status");
    if (status) {
      status.textContent = message;
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var button = form.querySelector("[data-passkey-start]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, "This browser cannot use passkeys.");
      return;
    }
    if (button) {
      button.hidden = false;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var options = JSON.parse(form.getAttribute("data-options"));
      var asked = form.getAttribute("data-passkey") === "create"
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      say(form, "Follow your browser's prompt…");
      asked.then(
        function (credential) {
          form.elements.credential.value = JSON.stringify(asJson(credential));
          form.submit();
        },
        function () {
          say(form, "The passkey was not used. Reload the page to try again.");
        }
      );
    });
  });
})();
