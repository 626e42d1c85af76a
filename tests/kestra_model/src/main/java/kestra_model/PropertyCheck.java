package kestra_model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kestra.core.models.flows.Flow;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.models.triggers.AbstractTrigger;
import io.kestra.core.runners.RunContext;
import io.kestra.core.serializers.JacksonMapper;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;

/**
 * Converts every fixed (non-Pebble) {@link Property} value of a flow's tasks and triggers the way a
 * run does: {@code Property.as / asList / asMap} with a {@link RunContext}, i.e. Kestra's own
 * Jackson conversion to the property's declared type (RunContextProperty#as, Kestra 1.1). Kestra's
 * validator keeps a Property as an unconverted string, so e.g. {@code fetchType: FETCH_UNO} passes
 * POST /flows/validate and fails only when the task runs; this finds it before.
 *
 * <p>Tasks of masked plugins ({@link UnservedPluginTask}) have no classes here: their fixed values
 * are held to the enum facts handed in by pytest (tests/flows/plugin_enums.txt, read from the
 * plugin sources), compared as Jackson compares an enum constant (exact name).
 *
 * <p>Records every enum-typed fixed value it converted, so a run with the real plugin jars can
 * prove the facts complete and equal to the plugins' own enum constants.
 */
final class PropertyCheck {
    private static final ObjectMapper JSON = JacksonMapper.ofJson();

    /** Fixed values only: anything Pebble would render is the run's business, not a constant. */
    static boolean isPebble(String expression) {
        return expression.contains("{{") || expression.contains("{%") || expression.contains("{#");
    }

    private final RunContext runContext;
    private final Map<String, Map<String, JsonNode>> factsByType;
    private final List<String> problems = new ArrayList<>();
    private final ArrayNode enums = JSON.createArrayNode();
    private final ArrayNode factsUsed = JSON.createArrayNode();
    private final Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    private int converted;
    private int dynamic;

    PropertyCheck(RunContext runContext, Map<String, Map<String, JsonNode>> factsByType) {
        this.runContext = runContext;
        this.factsByType = factsByType;
    }

    void check(Flow flow) {
        walkAll(flow.getTasks());
        walkAll(flow.getErrors());
        walkAll(flow.getFinally());
        walkAll(flow.getAfterExecution());
        walkAll(flow.getTriggers());
    }

    void report(ObjectNode verdict) {
        ObjectNode node = verdict.putObject("properties");
        node.put("converted", converted);
        node.put("pebble", dynamic);
        ArrayNode problemsNode = node.putArray("problems");
        problems.forEach(problemsNode::add);
        node.set("enums", enums);
        node.set("factsUsed", factsUsed);
        node.set("enumFields", enumFields);
    }

    private void walkAll(List<?> items) {
        if (items != null) {
            items.forEach(item -> walk(item, "", null));
        }
    }

    /** `path` is relative to the innermost task or trigger, whose id and type are in `owner`. */
    private void walk(Object value, String path, Owner owner) {
        if (value == null || value instanceof Property<?>) {
            return;
        }
        if (value instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) {
                walk(item, path + "[" + i++ + "]", owner);
            }
            return;
        }
        if (value instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                walk(entry.getValue(), join(path, String.valueOf(entry.getKey())), owner);
            }
            return;
        }
        Class<?> type = value.getClass();
        if (type.isEnum() || !type.getName().startsWith("io.kestra.") && !type.getName().startsWith("kestra_model.")) {
            return;
        }
        if (!seen.add(value)) {
            return;
        }
        if (value instanceof Task task) {
            owner = new Owner(task.getId(), task.getType());
            path = "";
        } else if (value instanceof AbstractTrigger trigger) {
            owner = new Owner(trigger.getId(), trigger.getType());
            path = "";
        }
        if (value instanceof UnservedPluginTask masked) {
            owner = new Owner(masked.getId(), masked.getMaskedType());
            checkMasked(owner, masked.getMaskedProperties());
        } else if (value instanceof UnservedPluginTrigger masked) {
            owner = new Owner(masked.getId(), masked.getMaskedType());
            checkMasked(owner, masked.getMaskedProperties());
        }
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field field : c.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers()) || field.isSynthetic()) continue;
                Object fieldValue;
                try {
                    field.setAccessible(true);
                    fieldValue = field.get(value);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    continue;
                }
                String name = field.getName().startsWith("_") ? field.getName().substring(1) : field.getName();
                recordEnumField(field, type, join(path, name), owner);
                if (fieldValue instanceof Property<?> property) {
                    convert(property, resolve(field.getGenericType(), type, field.getDeclaringClass()), join(path, name), owner);
                } else {
                    walk(fieldValue, join(path, name), owner);
                }
            }
        }
    }

    private void convert(Property<?> property, Type declared, String path, Owner owner) {
        String expression = expressionOf(property);
        if (expression == null || valueOf(property) != null) {
            return; // a default set in code (Property.ofValue), not a value from the flow
        }
        if (isPebble(expression)) {
            dynamic++;
            return;
        }
        Type target = declared instanceof ParameterizedType p ? p.getActualTypeArguments()[0] : Object.class;
        Class<?> enumClass = null;
        Object result;
        try {
            if (target instanceof Class<?> c) {
                result = asUnchecked(property, c);
                enumClass = c.isEnum() ? c : null;
            } else if (target instanceof ParameterizedType p && p.getRawType() instanceof Class<?> raw
                && Collection.class.isAssignableFrom(raw)) {
                Class<?> item = rawClass(p.getActualTypeArguments()[0]);
                result = Property.asList(property, runContext, item);
                enumClass = item.isEnum() ? item : null;
            } else if (target instanceof ParameterizedType p && p.getRawType() instanceof Class<?> raw
                && Map.class.isAssignableFrom(raw)) {
                result = Property.asMap(property, runContext, rawClass(p.getActualTypeArguments()[0]),
                    rawClass(p.getActualTypeArguments()[1]));
            } else {
                result = asUnchecked(property, rawClass(target));
            }
            converted++;
        } catch (Exception e) {
            problems.add(where(owner, path) + ": " + firstLine(e));
            return;
        }
        if (enumClass != null && owner != null) {
            ObjectNode record = enums.addObject();
            record.put("taskId", owner.id());
            record.put("type", owner.type());
            record.put("property", path);
            record.put("enum", enumClass.getName());
            ArrayNode constants = record.putArray("constants");
            Arrays.stream(enumClass.getEnumConstants()).forEach(k -> constants.add(((Enum<?>) k).name()));
            record.put("value", String.valueOf(result));
        }
    }

    /**
     * Records a field of a task or trigger that takes enum constants, as a plain enum or as a
     * Property of an enum or of a list of enums (set in the flow or not: pytest compares with the
     * flow's keys).
     */
    private void recordEnumField(Field field, Class<?> concrete, String path, Owner owner) {
        if (owner == null || field.getDeclaringClass().getName().startsWith("kestra_model.")) return;
        Type declared = resolve(field.getGenericType(), concrete, field.getDeclaringClass());
        boolean property = declared instanceof ParameterizedType p && p.getRawType() == Property.class;
        Type target = property ? ((ParameterizedType) declared).getActualTypeArguments()[0] : declared;
        boolean list = false;
        if (target instanceof ParameterizedType p && p.getRawType() instanceof Class<?> raw && Collection.class.isAssignableFrom(raw)) {
            target = p.getActualTypeArguments()[0];
            list = true;
        }
        if (!(target instanceof Class<?> enumClass) || !enumClass.isEnum()) return;
        String key = owner.type() + " " + path;
        if (!enumFieldKeys.add(key)) return;
        ObjectNode record = enumFields.addObject();
        record.put("type", owner.type());
        record.put("property", path);
        record.put("enum", enumClass.getName());
        record.put("property_wrapped", property);
        record.put("list", list);
        ArrayNode constants = record.putArray("constants");
        Arrays.stream(enumClass.getEnumConstants()).forEach(k -> constants.add(((Enum<?>) k).name()));
    }

    private final ArrayNode enumFields = JSON.createArrayNode();
    private final Set<String> enumFieldKeys = new java.util.HashSet<>();

    /** A masked task's fixed values against the enum facts of its real type. */
    private void checkMasked(Owner owner, Map<String, Object> properties) {
        Map<String, JsonNode> facts = factsByType.getOrDefault(owner.type(), Map.of());
        facts.forEach((property, fact) -> {
            Object value = valueAt(properties, property);
            if (value == null) return;
            if (value instanceof String text && isPebble(text)) {
                dynamic++;
                return;
            }
            List<?> items = value instanceof List<?> list ? list : List.of(value);
            List<String> allowed = new ArrayList<>();
            fact.path("values").forEach(v -> allowed.add(v.asText()));
            for (Object item : items) {
                ObjectNode used = factsUsed.addObject();
                used.put("taskId", owner.id());
                used.put("type", owner.type());
                used.put("property", property);
                used.put("value", String.valueOf(item));
                // An enum constant is read from a string, by its exact name (Jackson, JacksonMapper).
                if (!(item instanceof String text) || !allowed.contains(text)) {
                    problems.add(where(owner, property) + ": " + JSON.valueToTree(item) + " is not one of the constants of "
                        + fact.path("enum").asText() + " " + allowed + " (" + fact.path("source").asText() + ")");
                    return;
                }
            }
            converted++;
        });
    }

    private static Object valueAt(Map<String, Object> properties, String dotted) {
        Object current = properties;
        for (String key : dotted.split("\\.")) {
            if (!(current instanceof Map<?, ?> map)) return null;
            current = map.get(key);
        }
        return current;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Object asUnchecked(Property property, Class clazz) throws Exception {
        return Property.as(property, runContext, clazz);
    }

    private static final Field EXPRESSION = field("expression");
    private static final Field VALUE = field("value");

    private static Field field(String name) {
        try {
            Field f = Property.class.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("io.kestra.core.models.property.Property has no field " + name, e);
        }
    }

    private static String expressionOf(Property<?> property) {
        try {
            return (String) EXPRESSION.get(property);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object valueOf(Property<?> property) {
        try {
            return VALUE.get(property);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The field's generic type with the declaring class's type variables bound as `concrete` binds them. */
    static Type resolve(Type type, Class<?> concrete, Class<?> declaring) {
        if (type instanceof ParameterizedType p) {
            Type[] args = Arrays.stream(p.getActualTypeArguments()).map(a -> resolve(a, concrete, declaring)).toArray(Type[]::new);
            return new ResolvedType((Class<?>) p.getRawType(), args);
        }
        if (type instanceof TypeVariable<?> variable) {
            return bind(variable, concrete, declaring);
        }
        return type;
    }

    private static Type bind(TypeVariable<?> variable, Class<?> concrete, Class<?> declaring) {
        // Walk from the concrete class up to the declaring class, tracking each superclass's arguments.
        List<Class<?>> chain = new ArrayList<>();
        for (Class<?> c = concrete; c != null && c != declaring; c = c.getSuperclass()) chain.add(c);
        Type bound = variable;
        for (int i = chain.size() - 1; i >= 0 && bound instanceof TypeVariable<?> tv; i--) {
            Type superType = chain.get(i).getGenericSuperclass();
            Class<?> superClass = chain.get(i).getSuperclass();
            if (!(superType instanceof ParameterizedType p) || superClass == null) return Object.class;
            int index = Arrays.asList(superClass.getTypeParameters()).indexOf(tv);
            if (index < 0) return Object.class;
            bound = p.getActualTypeArguments()[index];
        }
        return bound instanceof TypeVariable<?> ? Object.class : bound;
    }

    private static Class<?> rawClass(Type type) {
        if (type instanceof Class<?> c) return c;
        if (type instanceof ParameterizedType p && p.getRawType() instanceof Class<?> c) return c;
        return Object.class;
    }

    private static String join(String path, String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    private static String where(Owner owner, String path) {
        return owner == null ? path : owner.id() + "." + path;
    }

    private static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String message = String.valueOf(root.getMessage());
        int source = message.indexOf("\n at [Source");
        message = source >= 0 ? message.substring(0, source) : message;
        return message.lines().findFirst().orElse(message).strip();
    }

    private record Owner(String id, String type) {
    }

    private record ResolvedType(Class<?> raw, Type[] args) implements ParameterizedType {
        @Override public Type[] getActualTypeArguments() { return args; }
        @Override public Type getRawType() { return raw; }
        @Override public Type getOwnerType() { return null; }
    }
}
