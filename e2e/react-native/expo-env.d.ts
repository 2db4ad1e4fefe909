// What an Expo app's expo-env.d.ts brings in from `expo/types` for the
// EXPO_PUBLIC_ variables (Expo inlines them at build time); declared here
// so the check needs React Native's and expo-secure-store's types, not all
// of Expo.
declare const process: { env: Record<string, string | undefined> };
