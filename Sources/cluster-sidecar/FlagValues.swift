import ArgumentParser
import SidecarSettings

/// The setting values given on the command line, keyed by variable, read from an options
/// struct whose properties are named as the keys' cases (`mitURL` for `ConfigKey.mitURL`; a
/// secret's file form is the same name with `File` after it: `jwtSecretFile`). The mapping
/// comes from the keys' declarations, so adding a setting adds no line here.
enum FlagValues {
    static func of<Key: SettingKey & CaseIterable>(_ options: Any, keys _: Key.Type) -> [String: String] {
        var byName: [String: String] = [:]
        for key in Key.allCases {
            byName["\(key)"] = key.variable
            byName["\(key)File"] = key.variable + "_FILE"
        }
        var values: [String: String] = [:]
        for child in Mirror(reflecting: options).children {
            guard let label = child.label, let option = child.value as? Option<String?> else { continue }
            // An option named after no setting would be dropped in silence: debug builds (the
            // tests run them) stop at once.
            guard label.hasPrefix("_"), let variable = byName[String(label.dropFirst())] else {
                assertionFailure("the option \(label) is named after no setting of \(Key.self)")
                continue
            }
            if let value = option.wrappedValue { values[variable] = value }
        }
        return values
    }
}
