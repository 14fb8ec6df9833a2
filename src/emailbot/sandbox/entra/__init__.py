"""The sandbox's Entra ID: discovery and the token endpoint (`endpoints`), the client-credentials grant
(`app_tokens`), delegated sign-in by device code and refresh token (`delegated`), who is asking (`clients`) and
Entra's error shape (`errors`)."""
