package kestra_model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kestra.core.models.dashboards.Dashboard;
import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
import io.kestra.core.models.executions.TaskRun;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.models.validations.ModelValidator;
import io.kestra.core.models.validations.ValidateConstraintViolation;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.plugins.RegisteredPlugin;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.LogRepositoryInterface;
import io.kestra.core.runners.ExecutorInterface;
import io.kestra.core.runners.FlowInputOutput;
import io.kestra.core.runners.Indexer;
import io.kestra.core.runners.RunContextFactory;
import io.kestra.core.runners.RunnerUtils;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.serializers.YamlParser;
import io.kestra.core.services.FlowService;
import io.kestra.core.services.PluginDefaultService;
import io.kestra.core.storages.NamespaceFile;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.ExecutorsUtils;
import io.kestra.worker.DefaultWorker;
import io.micronaut.context.ApplicationContext;
import jakarta.validation.ConstraintViolationException;
import org.slf4j.event.Level;

import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;

/**
 * One JVM run of Kestra 1.1's own code over the repository's flows (issue 10).
 *
 * <p>Reads a JSON spec (written by tests/kestra_model/test_kestra_model.py) naming the flow and
 * dashboard files to validate and the executions to run, and writes a JSON report; pytest makes
 * the assertions. Validation is FlowService#validate (what POST /api/v1/flows/validate runs) and,
 * for dashboards, YamlParser + ModelValidator as DashboardController#validateDashboard does.
 * Executions run in an embedded Kestra: H2 in-memory repository and queues, executor, worker,
 * indexer, local storage.
 *
 * <p>It does not judge: it reports Kestra's verdicts. Tasks and triggers of plugin groups whose
 * jars Maven Central does not serve are masked (see {@link UnservedPluginTask}) and listed.
 */
public final class Harness {
    private static final ObjectMapper JSON = JacksonMapper.ofJson();
    private static final ObjectMapper YAML = JacksonMapper.ofYaml();

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Harness <spec.json> <report.json> <storage dir>");
            System.exit(2);
        }
        JsonNode spec = JSON.readTree(Path.of(args[0]).toFile());
        Map<String, Object> properties = new HashMap<>();
        properties.put("kestra.repository.type", "memory");
        properties.put("kestra.queue.type", "memory");
        properties.put("kestra.storage.type", "local");
        properties.put("kestra.storage.local.base-path", args[2]);
        properties.put("kestra.queues.min-poll-interval", "10ms");
        properties.put("kestra.queues.max-poll-interval", "100ms");
        properties.put("kestra.queues.poll-switch-interval", "5s");
        properties.put("kestra.server.liveness.enabled", "false");
        // Only 127.0.0.1 may be reached from here: never the usage report (off unless set, and kept off).
        properties.put("kestra.anonymous-usage-report.enabled", "false");
        properties.put("kestra.tasks.tmp-dir.path", args[2] + "/tmp");
        if (spec.path("processRunner").asBoolean(false)) {
            // No Docker engine: script tasks run as local processes, forced over the flows' own
            // choice, as forced instance-level plugin defaults on a server without Docker do.
            properties.put("kestra.plugins.defaults", List.of(Map.of(
                "type", "io.kestra.plugin.scripts",
                "forced", true,
                "values", Map.of("taskRunner", Map.of("type", "io.kestra.plugin.core.runner.Process")))));
        }

        ObjectNode report = JSON.createObjectNode();
        long started = System.currentTimeMillis();
        try {
            ApplicationContext context = ApplicationContext.builder().properties(properties).start();
            report.put("contextStartMillis", System.currentTimeMillis() - started);
            new Harness(context, spec, report).run();
        } catch (Throwable e) {
            // Kestra's non-daemon threads would keep the JVM (and the test session) waiting.
            e.printStackTrace();
            System.err.flush();
            Runtime.getRuntime().halt(1);
        }
        report.put("totalMillis", System.currentTimeMillis() - started);
        Files.writeString(Path.of(args[1]), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        // Everything is in memory, so nothing is lost by not closing the context; closing it races
        // Kestra's queue pollers against the H2 pool shutting down, and its non-daemon threads
        // would keep the JVM alive anyway.
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(0);
    }

    private final ApplicationContext context;
    private final JsonNode spec;
    private final ObjectNode report;
    private final String tenant;
    private final List<String> unservedGroups = new ArrayList<>();
    private final PluginRegistry pluginRegistry;

    private Harness(ApplicationContext context, JsonNode spec, ObjectNode report) {
        this.context = context;
        this.spec = spec;
        this.report = report;
        this.tenant = spec.path("tenant").asText("main");
        spec.path("unservedGroups").forEach(g -> unservedGroups.add(g.asText()));
        this.pluginRegistry = context.getBean(PluginRegistry.class);
        ObjectNode plugins = report.putObject("plugins");
        String pluginsDir = spec.path("pluginsDir").asText("");
        if (!pluginsDir.isEmpty()) {
            // What `kestra server --plugins DIR` does (AbstractCommand#call, Kestra 1.1).
            pluginRegistry.registerIfAbsent(Path.of(pluginsDir));
            plugins.put("dir", pluginsDir);
        }
        ArrayNode external = plugins.putArray("external");
        for (RegisteredPlugin plugin : pluginRegistry.externalPlugins()) {
            ObjectNode entry = external.addObject();
            entry.put("location", String.valueOf(plugin.getExternalPlugin().getLocation()));
            entry.put("version", plugin.version());
            entry.put("classes", plugin.allClass().size());
        }
        // A group stays masked only while no external plugin jar provides a class in it (the
        // classpath's own script module has the Docker runner, not the plugin-scripts tasks).
        List<String> served = new ArrayList<>();
        for (String group : List.copyOf(unservedGroups)) {
            boolean present = pluginRegistry.externalPlugins().stream()
                .flatMap(p -> p.allClass().stream()).anyMatch(c -> c.getName().startsWith(group));
            if (present) {
                served.add(group);
                unservedGroups.remove(group);
            }
        }
        plugins.set("servedGroups", JSON.valueToTree(served));
        plugins.set("maskedGroups", JSON.valueToTree(unservedGroups));
        spec.path("enumFacts").forEach(fact -> factsByType
            .computeIfAbsent(fact.path("type").asText(), k -> new LinkedHashMap<>())
            .put(fact.path("property").asText(), fact));
        plugins.set("factChecks", checkFacts());
    }

    private final Map<String, Map<String, JsonNode>> factsByType = new LinkedHashMap<>();

    /**
     * For each enum fact whose plugin is registered here: the constants of the enum the real class
     * declares for that property, for pytest to compare with the fact (a fact about a masked plugin
     * is reported as not checkable).
     */
    private ArrayNode checkFacts() {
        ArrayNode checks = JSON.createArrayNode();
        factsByType.forEach((type, facts) -> facts.forEach((property, fact) -> {
            ObjectNode check = checks.addObject();
            check.put("type", type);
            check.put("property", property);
            Class<?> cls = pluginRegistry.findClassByIdentifier(type);
            if (cls == null) {
                check.put("loaded", false);
                return;
            }
            check.put("loaded", true);
            try {
                Class<?> owner = cls;
                java.lang.reflect.Type declared = null;
                String[] parts = property.split("\\.");
                for (int i = 0; i < parts.length; i++) {
                    java.lang.reflect.Field field = findField(owner, parts[i]);
                    if (field == null) throw new NoSuchFieldException(owner.getName() + "." + parts[i]);
                    declared = PropertyCheck.resolve(field.getGenericType(), owner, field.getDeclaringClass());
                    if (i < parts.length - 1) owner = field.getType();
                }
                java.lang.reflect.Type target = declared instanceof java.lang.reflect.ParameterizedType p
                    && p.getRawType() == io.kestra.core.models.property.Property.class ? p.getActualTypeArguments()[0] : declared;
                if (target instanceof java.lang.reflect.ParameterizedType p && p.getRawType() instanceof Class<?> raw
                    && java.util.Collection.class.isAssignableFrom(raw)) {
                    target = p.getActualTypeArguments()[0]; // a list of constants, e.g. schemaUpdateOptions
                }
                if (!(target instanceof Class<?> enumClass) || !enumClass.isEnum()) {
                    check.put("error", "not an enum property: " + target);
                    return;
                }
                check.put("enum", enumClass.getName());
                ArrayNode constants = check.putArray("constants");
                for (Object constant : enumClass.getEnumConstants()) constants.add(((Enum<?>) constant).name());
            } catch (ReflectiveOperationException | RuntimeException e) {
                check.put("error", e.toString());
            }
        }));
        return checks;
    }

    private static java.lang.reflect.Field findField(Class<?> type, String name) {
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (java.lang.reflect.Field f : c.getDeclaredFields()) {
                if (f.getName().equals(name)) return f;
            }
        }
        return null;
    }

    private void run() throws Exception {
        FlowService flowService = context.getBean(FlowService.class);
        FlowRepositoryInterface flowRepository = context.getBean(FlowRepositoryInterface.class);
        ModelValidator modelValidator = context.getBean(ModelValidator.class);
        PluginDefaultService pluginDefaultService = context.getBean(PluginDefaultService.class);
        RunContextFactory runContextFactory = context.getBean(RunContextFactory.class);

        // Pass 1: store every flow that parses, so Subflow references resolve as on a real server.
        for (JsonNode entry : spec.path("validate")) {
            if (!"flow".equals(entry.path("kind").asText())) continue;
            String source = Files.readString(Path.of(entry.path("path").asText()));
            try {
                flowRepository.create(GenericFlow.fromYaml(tenant, mask(source, new ArrayList<>())));
            } catch (Exception ignored) {
                // Its verdict comes from pass 2.
            }
        }

        ArrayNode validations = report.putArray("validations");
        for (JsonNode entry : spec.path("validate")) {
            String path = entry.path("path").asText();
            String source = Files.readString(Path.of(path));
            ObjectNode verdict = validations.addObject();
            verdict.put("path", path);
            verdict.put("kind", entry.path("kind").asText());
            List<ObjectNode> masked = new ArrayList<>();
            if ("dashboard".equals(entry.path("kind").asText())) {
                // DashboardController#validateDashboard (webserver, Kestra 1.1)
                try {
                    Dashboard parsed = YamlParser.parse(source, Dashboard.class).toBuilder().deleted(false).build();
                    modelValidator.validate(parsed);
                } catch (ConstraintViolationException e) {
                    verdict.put("constraints", e.getMessage());
                } catch (RuntimeException e) {
                    verdict.put("constraints", "Unable to validate the dashboard: " + e.getMessage());
                }
            } else {
                String checked = mask(source, masked);
                List<ValidateConstraintViolation> results = flowService.validate(tenant, checked);
                ValidateConstraintViolation result = results.getFirst();
                if (results.size() != 1) {
                    verdict.put("constraints", "expected one flow per file, found " + results.size());
                } else if (result.getConstraints() != null) {
                    verdict.put("constraints", result.getConstraints());
                }
                verdict.set("deprecationPaths", JSON.valueToTree(result.getDeprecationPaths()));
                verdict.set("warnings", JSON.valueToTree(result.getWarnings()));
                verdict.set("infos", JSON.valueToTree(result.getInfos()));
                if (result.getConstraints() == null && results.size() == 1) {
                    // What a run converts: fixed Property values, with every plugin default applied.
                    PropertyCheck properties = new PropertyCheck(runContextFactory.of(), factsByType);
                    try {
                        FlowWithSource parsed = pluginDefaultService.parseFlowWithAllDefaults(tenant, checked, false);
                        properties.check(parsed);
                    } catch (Exception e) {
                        verdict.put("propertiesError", e.getClass().getName() + ": " + e.getMessage());
                    }
                    properties.report(verdict);
                }
            }
            ArrayNode maskedNode = verdict.putArray("masked");
            masked.forEach(maskedNode::add);
        }

        if (spec.path("executions").isEmpty()) return;
        ArrayNode executions = report.putArray("executions");
        StorageInterface storage = context.getBean(StorageInterface.class);
        for (JsonNode file : spec.path("namespaceFiles")) {
            // NamespaceFileController#createFile (webserver, Kestra 1.1)
            String namespace = file.path("namespace").asText();
            try (InputStream in = Files.newInputStream(Path.of(file.path("file").asText()))) {
                storage.put(tenant, namespace, NamespaceFile.of(namespace, URI.create(file.path("path").asText())).uri(), in);
            }
        }
        ExecutorService pool = startRunner();
        try {
            RunnerUtils runnerUtils = context.getBean(RunnerUtils.class);
            FlowInputOutput flowIO = context.getBean(FlowInputOutput.class);
            LogRepositoryInterface logRepository = context.getBean(LogRepositoryInterface.class);
            for (JsonNode entry : spec.path("executions")) {
                ObjectNode result = executions.addObject();
                result.put("name", entry.path("name").asText());
                long start = System.currentTimeMillis();
                try {
                    String source = Files.readString(Path.of(entry.path("path").asText()));
                    List<ObjectNode> masked = new ArrayList<>();
                    mask(source, masked);
                    if (!masked.isEmpty()) {
                        throw new IllegalStateException("flow uses plugins this harness cannot load: " + masked);
                    }
                    GenericFlow flow = GenericFlow.fromYaml(tenant, source);
                    if (flowRepository.findById(tenant, flow.getNamespace(), flow.getId()).isEmpty()) {
                        flowRepository.create(flow);
                    }
                    Map<String, Object> inputs = JSON.convertValue(entry.path("inputs"), JacksonMapper.MAP_TYPE_REFERENCE);
                    Execution execution = runnerUtils.runOne(tenant, flow.getNamespace(), flow.getId(), null,
                        (f, e) -> flowIO.readExecutionInputs(f, e, inputs == null ? Map.of() : inputs),
                        Duration.ofSeconds(entry.path("timeoutSeconds").asLong(60)));
                    result.put("state", execution.getState().getCurrent().name());
                    result.set("outputs", JSON.valueToTree(execution.getOutputs()));
                    ArrayNode taskRuns = result.putArray("taskRuns");
                    for (TaskRun taskRun : execution.getTaskRunList()) {
                        ObjectNode t = taskRuns.addObject();
                        t.put("taskId", taskRun.getTaskId());
                        t.put("state", taskRun.getState().getCurrent().name());
                        t.set("outputs", JSON.valueToTree(taskRun.getOutputs()));
                    }
                    result.set("logs", JSON.valueToTree(awaitLogs(logRepository, execution)));
                } catch (Exception e) {
                    result.put("error", e.getClass().getName() + ": " + e.getMessage());
                }
                result.put("millis", System.currentTimeMillis() - start);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** What StandAloneRunner (cli, Kestra 1.1) starts, less the scheduler: the flows run here are started by hand. */
    private ExecutorService startRunner() {
        ExecutorService pool = context.getBean(ExecutorsUtils.class).cachedThreadPool("kestra-model-runner");
        pool.execute(context.getBean(ExecutorInterface.class));
        DefaultWorker worker = context.createBean(DefaultWorker.class, UUID.randomUUID().toString(), 4, null);
        context.registerSingleton(worker);
        pool.execute(worker);
        pool.execute(context.getBean(Indexer.class));
        return pool;
    }

    private List<Map<String, Object>> awaitLogs(LogRepositoryInterface logRepository, Execution execution) throws InterruptedException {
        // The indexer stores log lines asynchronously: wait until their number stops growing.
        List<LogEntry> logs = List.of();
        for (int i = 0, stable = 0; i < 50 && stable < 3; i++) {
            Thread.sleep(100);
            List<LogEntry> now = logRepository.findByExecutionId(tenant, execution.getId(), Level.TRACE);
            stable = now.size() == logs.size() && !now.isEmpty() ? stable + 1 : 0;
            logs = now;
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (LogEntry log : logs) {
            Map<String, Object> line = new HashMap<>();
            line.put("level", log.getLevel().name());
            line.put("taskId", log.getTaskId());
            line.put("message", log.getMessage());
            out.add(line);
        }
        return out;
    }

    /**
     * Returns the flow source with every task or trigger of an unserved plugin group replaced by
     * {@link UnservedPluginTask}/{@link UnservedPluginTrigger}, recording each one in {@code masked}.
     * A type that is neither registered nor in an unserved group is left for Kestra to reject.
     */
    private String mask(String source, List<ObjectNode> masked) throws Exception {
        JsonNode tree = YAML.readTree(source);
        if (tree == null || !tree.isObject()) return source;
        maskNode(tree, "", "", masked);
        return masked.isEmpty() ? source : YAML.writeValueAsString(tree);
    }

    private void maskNode(JsonNode node, String path, String parentKey, List<ObjectNode> masked) {
        if (node.isObject()) {
            ObjectNode object = (ObjectNode) node;
            JsonNode type = object.get("type");
            if (!"pluginDefaults".equals(parentKey) && type != null && type.isTextual() && isUnserved(type.asText())) {
                ObjectNode record = JSON.createObjectNode();
                record.put("path", path);
                record.put("type", type.asText());
                masked.add(record);
                object.put("maskedType", type.asText());
                object.put("type", "triggers".equals(parentKey)
                    ? UnservedPluginTrigger.class.getName() : UnservedPluginTask.class.getName());
                return;
            }
            Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> field = fields.next();
                maskNode(field.getValue(), path.isEmpty() ? field.getKey() : path + "." + field.getKey(), field.getKey(), masked);
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                maskNode(node.get(i), path + "[" + i + "]", parentKey, masked);
            }
        }
    }

    private boolean isUnserved(String type) {
        return pluginRegistry.findClassByIdentifier(type) == null
            && unservedGroups.stream().anyMatch(type::startsWith);
    }
}
